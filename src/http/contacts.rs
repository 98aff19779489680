//! `/api/v1/contacts`: the customer record, lookup by email or phone, edits, identities,
//! merges and erasure.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;

use super::AppState;
use super::auth::Principal;
use super::error::{ApiResult, Id, Json, Problem, Query};
use crate::desk::Role;
use crate::desk::contacts::{ContactDetail, ContactUpdate, Erased};
use crate::desk::identity::{IdentityClaim, IdentityKind};
use entity::{contact, identity};

pub async fn show(
    State(state): State<AppState>,
    p: Principal,
    Id(id): Id,
) -> ApiResult<axum::Json<ContactDetail>> {
    p.require(Role::Agent)?;
    Ok(axum::Json(state.desk.contact_detail(id).await?))
}

/// Query of `GET /api/v1/contacts/lookup`: exactly one of email or phone.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LookupQuery {
    email: Option<String>,
    phone: Option<String>,
}

pub async fn lookup(
    State(state): State<AppState>,
    p: Principal,
    Query(q): Query<LookupQuery>,
) -> ApiResult<axum::Json<ContactDetail>> {
    p.require(Role::Agent)?;
    let (kind, value) = match (q.email, q.phone) {
        (Some(e), None) => (IdentityKind::Email, e),
        (None, Some(ph)) => (IdentityKind::Phone, ph),
        _ => {
            return Err(Problem {
                status: 400,
                ..Problem::invalid("email", "give exactly one of email or phone")
            });
        }
    };
    let c = state.desk.lookup_contact(kind, &value).await?;
    Ok(axum::Json(state.desk.contact_detail(c.id).await?))
}

pub async fn update(
    State(state): State<AppState>,
    p: Principal,
    Id(id): Id,
    Json(change): Json<ContactUpdate>,
) -> ApiResult<axum::Json<contact::Model>> {
    p.require(Role::Agent)?;
    Ok(axum::Json(state.desk.update_contact(id, &change).await?))
}

/// Body of `POST /api/v1/contacts/{id}/merge`: the contact to merge into this one.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MergeInput {
    contact_id: i64,
}

pub async fn merge(
    State(state): State<AppState>,
    p: Principal,
    Id(id): Id,
    Json(input): Json<MergeInput>,
) -> ApiResult<axum::Json<ContactDetail>> {
    p.require(Role::Agent)?;
    state
        .desk
        .merge_contacts(id, input.contact_id, p.actor)
        .await?;
    Ok(axum::Json(state.desk.contact_detail(id).await?))
}

/// Body of `POST /api/v1/contacts`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewContact {
    name: Option<String>,
    identity: IdentityClaim,
}

/// Creates a contact with one identity (201); 409 when someone has that identity.
pub async fn create(
    State(state): State<AppState>,
    p: Principal,
    Json(new): Json<NewContact>,
) -> ApiResult<(StatusCode, axum::Json<entity::contact::Model>)> {
    p.require(Role::Agent)?;
    let c = state
        .desk
        .create_contact(new.name.as_deref(), &new.identity, p.actor)
        .await?;
    Ok((StatusCode::CREATED, axum::Json(c)))
}

pub async fn add_identity(
    State(state): State<AppState>,
    p: Principal,
    Id(id): Id,
    Json(claim): Json<IdentityClaim>,
) -> ApiResult<(StatusCode, axum::Json<identity::Model>)> {
    p.require(Role::Agent)?;
    Ok((
        StatusCode::CREATED,
        axum::Json(state.desk.add_identity(id, &claim, p.actor).await?),
    ))
}

/// `DELETE /api/v1/contacts/{id}`: erases a customer and everything personal about them
/// (the right to erasure); admins only, since it cannot be undone.
pub async fn erase(
    State(state): State<AppState>,
    p: Principal,
    Id(id): Id,
) -> ApiResult<axum::Json<Erased>> {
    p.require(Role::Admin)?;
    Ok(axum::Json(state.desk.erase_contact(id, p.actor).await?))
}
