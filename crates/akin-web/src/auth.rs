//! Admin authentication: a bearer token compared in constant time. Without a configured
//! token every admin request is refused.

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use crate::AppState;
use crate::error::AppError;

/// Proof that the request carried the admin token. Add it as a handler argument.
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let Some(expected) = state.settings.admin_token.as_deref() else {
            return Err(AppError::client(
                StatusCode::FORBIDDEN,
                "admin_disabled",
                "admin routes are disabled: the server has no AKIN_ADMIN_TOKEN",
            ));
        };
        let offered = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        match offered {
            Some(token) if constant_time_eq(token.as_bytes(), expected.as_bytes()) => Ok(Admin),
            _ => Err(AppError::client(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "this route needs the admin token as `Authorization: Bearer TOKEN`",
            )),
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn tokens_match_only_when_every_byte_matches() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
    }
}
