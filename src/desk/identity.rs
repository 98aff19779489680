//! Identities: the normalized forms by which a contact is recognised on every channel.
//!
//! One person writing from `Anna@Example.com` and `anna@example.com`, or calling from
//! `030 1234567` and `+49 30 1234567`, must land on the same contact, so values are
//! normalized before they are stored or looked up: emails lower-cased, phone numbers in
//! E.164.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use serde::{Deserialize, Serialize};

use super::{Error, Result, words};
use entity::identity;

words! {
    /// The kind of an identity. WhatsApp and SMS senders are phone numbers, so a caller,
    /// a texter and a WhatsApp user with the same number are one contact.
    IdentityKind, "identity.kind" {
        Email = "email", Phone = "phone", Telegram = "telegram", Visitor = "visitor",
        Shop = "shop",
    }
}

/// Lower-cases and checks an email address.
pub fn normalize_email(raw: &str) -> Result<String> {
    let value = raw.trim().to_lowercase();
    let err = |m: &str| Error::invalid("email", format!("{m}: {raw:?}"));
    if value.len() > 254 {
        return Err(err("too long"));
    }
    let (local, domain) = value.rsplit_once('@').ok_or_else(|| err("no @"))?;
    if local.is_empty() || domain.is_empty() {
        return Err(err("empty part"));
    }
    if value
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';' | '"'))
    {
        return Err(err("invalid character"));
    }
    if domain.starts_with('.') || domain.ends_with('.') || domain.contains("..") {
        return Err(err("invalid domain"));
    }
    Ok(value)
}

/// Parses a phone number in any common format into E.164 (`+4930123456`).
pub fn normalize_phone(raw: &str, region: phonenumber::country::Id) -> Result<String> {
    let trimmed = raw.trim();
    let err = || Error::invalid("phone", format!("not a valid phone number: {raw:?}"));
    if trimmed.is_empty() || trimmed.len() > 40 {
        return Err(err());
    }
    // "00" is the international prefix in most of the world.
    let candidate = match trimmed.strip_prefix("00") {
        Some(rest) => format!("+{rest}"),
        None => trimmed.to_owned(),
    };
    let number = phonenumber::parse(Some(region), &candidate).map_err(|_| err())?;
    if !phonenumber::is_valid(&number) {
        return Err(err());
    }
    Ok(number.format().mode(phonenumber::Mode::E164).to_string())
}

/// Checks an opaque id (Telegram user id, widget visitor id, shop customer id).
fn normalize_opaque(kind: IdentityKind, raw: &str) -> Result<String> {
    let value = raw.trim();
    if value.is_empty() || value.len() > 200 || value.chars().any(char::is_control) {
        return Err(Error::invalid(
            "identity.value",
            format!("not a valid {kind} id: {raw:?}"),
        ));
    }
    Ok(value.to_owned())
}

/// An identity as a caller claims it, before normalization.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityClaim {
    pub kind: IdentityKind,
    pub value: String,
    /// True only when something we trust vouched for it (a signed widget identity, the
    /// shop's order, an agent). Never taken from a request body: code sets it.
    #[serde(default, skip_deserializing)]
    pub verified: bool,
}

impl IdentityClaim {
    pub fn new(kind: IdentityKind, value: impl Into<String>) -> Self {
        IdentityClaim {
            kind,
            value: value.into(),
            verified: false,
        }
    }

    pub fn verified(mut self) -> Self {
        self.verified = true;
        self
    }

    /// The stored form of the value.
    pub fn normalized(&self, region: phonenumber::country::Id) -> Result<String> {
        normalize(self.kind, &self.value, region)
    }
}

/// The stored form of an identity value of the given kind.
pub fn normalize(
    kind: IdentityKind,
    value: &str,
    region: phonenumber::country::Id,
) -> Result<String> {
    match kind {
        IdentityKind::Email => normalize_email(value),
        IdentityKind::Phone => normalize_phone(value, region),
        other => normalize_opaque(other, value),
    }
}

/// The stored identity with this kind and (normalized) value.
pub(crate) async fn find<C: ConnectionTrait>(
    db: &C,
    kind: IdentityKind,
    value: &str,
) -> Result<Option<identity::Model>> {
    Ok(identity::Entity::find()
        .filter(identity::Column::Kind.eq(kind.as_str()))
        .filter(identity::Column::Value.eq(value))
        .one(db)
        .await?)
}

/// Stores a new identity of a contact; `value` must be normalized.
pub(crate) async fn insert<C: ConnectionTrait>(
    db: &C,
    contact_id: i64,
    kind: IdentityKind,
    value: &str,
    verified: bool,
    at: DateTime<Utc>,
) -> Result<identity::Model> {
    Ok(identity::ActiveModel {
        contact_id: Set(contact_id),
        kind: Set(kind.as_str().into()),
        value: Set(value.to_owned()),
        verified: Set(verified),
        created_at: Set(at),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

/// Records that something we trust vouched for an identity.
pub(crate) async fn mark_verified<C: ConnectionTrait>(
    db: &C,
    found: identity::Model,
) -> Result<identity::Model> {
    if found.verified {
        return Ok(found);
    }
    Ok(identity::ActiveModel {
        id: Set(found.id),
        verified: Set(true),
        ..Default::default()
    }
    .update(db)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use phonenumber::country::Id;

    #[test]
    fn emails_are_lower_cased_and_checked() {
        assert_eq!(
            normalize_email(" Anna@Example.COM ").unwrap(),
            "anna@example.com"
        );
        for bad in [
            "",
            "anna",
            "@x.de",
            "anna@",
            "an na@x.de",
            "a@x..de",
            "<a@x.de>",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn phones_become_e164_from_any_format() {
        for raw in [
            "+49 30 1234567",
            "030 1234567",
            "0049 (30) 123-4567",
            "+49301234567",
        ] {
            assert_eq!(
                normalize_phone(raw, Id::DE).unwrap(),
                "+49301234567",
                "{raw}"
            );
        }
        assert_eq!(
            normalize_phone("(202) 555-0143", Id::US).unwrap(),
            "+12025550143"
        );
        for bad in ["", "12", "hello", "+49 30", "+999 123456789"] {
            assert!(normalize_phone(bad, Id::DE).is_err(), "{bad:?} accepted");
        }
    }
}
