//! How far a mail account's IMAP folder has been read: written in the same transaction
//! as the messages it covers, so a crash never loses or repeats mail.
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "mail_checkpoint")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub channel_id: i64,
    pub folder: String,
    /// The folder's UIDVALIDITY; when the server changes it, UIDs start over.
    pub uid_validity: i64,
    /// The highest UID stored (or deliberately passed over).
    pub last_uid: i64,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
