//! My account: profile changes, password change and account deletion. Sensitive changes
//! re-check the password, and every change is published for the live sockets.

use std::net::IpAddr;

use uuid::Uuid;

use crate::auth::AuthUser;
use crate::auth::login_throttle;
use crate::auth::passwords::password_problem;
use crate::domain::{DisplayName, Email, StatusText, Username};
use crate::error::{ApiError, ApiResult, FieldErrors};
use crate::events::{DomainEvent, RevokeReason};
use crate::state::AppState;
use crate::store::users::{ProfileChanges, User};
use crate::uploads::sniff::IMAGE_TYPES;

/// The signed-in user's account.
pub async fn me(state: &AppState, auth: &AuthUser) -> ApiResult<User> {
    // A live session whose user is gone can only be a deletion racing this request.
    state
        .store
        .user_by_id(auth.user_id)
        .await?
        .ok_or(ApiError::Unauthorized("the account no longer exists"))
}

/// What `PATCH /users/me` may change; `None` leaves a field, `Some(None)` removes the email
/// or the avatar.
#[derive(Debug, Default)]
pub struct ProfileUpdate<'a> {
    pub username: Option<&'a str>,
    pub email: Option<Option<&'a str>>,
    pub display_name: Option<&'a str>,
    pub status_text: Option<&'a str>,
    pub avatar_upload_id: Option<Option<Uuid>>,
}

/// The parsed value, or `None` with the field's refusal noted.
fn checked<T>(errors: &mut FieldErrors, field: &str, parsed: Result<T, &'static str>) -> Option<T> {
    parsed
        .map_err(|why| errors.insert(field.into(), why.into()))
        .ok()
}

/// Changes the caller's profile: only the fields given.
pub async fn update_profile(
    state: &AppState,
    auth: &AuthUser,
    update: ProfileUpdate<'_>,
) -> ApiResult<User> {
    let mut errors = FieldErrors::new();
    let mut changes = ProfileChanges::default();
    if let Some(raw) = update.username {
        changes.username = checked(&mut errors, "username", Username::parse(raw));
    }
    match update.email {
        Some(Some(raw)) => {
            changes.email = checked(&mut errors, "email", Email::parse(raw)).map(Some)
        }
        Some(None) => changes.email = Some(None),
        None => {}
    }
    if let Some(raw) = update.display_name {
        changes.display_name = checked(&mut errors, "display_name", DisplayName::parse(raw));
    }
    if let Some(raw) = update.status_text {
        changes.status_text = checked(&mut errors, "status_text", StatusText::parse(raw));
    }
    if let Some(Some(upload_id)) = update.avatar_upload_id {
        if let Err(why) = check_avatar(state, auth.user_id, upload_id).await? {
            errors.insert("avatar_upload_id".into(), why.into());
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let mut user = state
        .store
        .update_profile(auth.user_id, changes)
        .await?
        .ok_or(ApiError::NotFound("no such user"))?;
    if let Some(avatar) = update.avatar_upload_id {
        user = state
            .store
            .set_avatar(auth.user_id, avatar)
            .await?
            .ok_or(ApiError::NotFound("no such user"))?;
    }
    state
        .events
        .publish(DomainEvent::UserUpdated { user_id: user.id })
        .await;
    Ok(user)
}

/// An avatar must be an image the user uploaded themselves.
async fn check_avatar(
    state: &AppState,
    user_id: Uuid,
    upload_id: Uuid,
) -> ApiResult<Result<(), &'static str>> {
    let owned = state.store.uploads_owned_by(user_id, &[upload_id]).await?;
    Ok(match owned.first() {
        None => Err("must be the id of a file you uploaded"),
        Some(upload) if !IMAGE_TYPES.contains(&upload.content_type.as_str()) => {
            Err("must be a PNG, JPEG, GIF or WebP image")
        }
        Some(_) => Ok(()),
    })
}

/// Changes the caller's password and signs out every other session.
pub async fn change_password(
    state: &AppState,
    auth: &AuthUser,
    current_password: String,
    new_password: String,
    ip: IpAddr,
) -> ApiResult<()> {
    let user = me(state, auth).await?;
    verify_own_password(state, &user, current_password, "current_password", ip).await?;
    if let Some(why) = password_problem(&new_password, &user.username) {
        return Err(ApiError::validation("new_password", why));
    }
    let hash = state.passwords.hash(new_password).await?;
    state.store.set_password_hash(user.id, &hash).await?;
    sign_out_others(state, auth, RevokeReason::PasswordChanged).await
}

/// Signs out every session of the caller's but the one making the request.
pub async fn sign_out_others(
    state: &AppState,
    auth: &AuthUser,
    reason: RevokeReason,
) -> ApiResult<()> {
    let revoked = state
        .store
        .revoke_other_sessions(auth.user_id, auth.session_id)
        .await?;
    state.sessions_revoked(auth.user_id, revoked, reason).await;
    Ok(())
}

/// Re-checks the signed-in user's password before a sensitive change. Failures count towards
/// the account's failed logins and delay this address, so a stolen access token cannot
/// brute-force it; the account's own count never refuses its owner (SPEC §5).
async fn verify_own_password(
    state: &AppState,
    user: &User,
    password: String,
    field: &str,
    ip: IpAddr,
) -> ApiResult<()> {
    let account = login_throttle::account_key(Some(user.id), "");
    login_throttle::check_owner(state, &account, ip).await?;
    let hash = state.store.password_hash(user.id).await?;
    if !state.passwords.verify(password, hash).await? {
        login_throttle::count_failure(state, &account, Some(user.id), ip).await;
        return Err(ApiError::validation(field, "is incorrect"));
    }
    Ok(())
}

/// Deletes the caller's account and every session of it.
pub async fn delete_account(
    state: &AppState,
    auth: &AuthUser,
    password: String,
    ip: IpAddr,
) -> ApiResult<()> {
    let user = me(state, auth).await?;
    verify_own_password(state, &user, password, "password", ip).await?;
    let deleted = state.store.delete_user(user.id).await?;
    state
        .sessions_revoked(user.id, deleted.session_ids, RevokeReason::AccountDeleted)
        .await;
    state
        .events
        .publish(DomainEvent::UserDeleted {
            user_id: user.id,
            room_ids: deleted.room_ids,
        })
        .await;
    Ok(())
}
