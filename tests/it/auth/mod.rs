//! Integration tests of the auth area.

mod client_credentials;
mod jwt_bearer;
mod refresh;
mod secrets;
