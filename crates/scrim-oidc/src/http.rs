//! `openidconnect`'s HTTP client trait over Scrim's client (`scrim-http-client`: rustls,
//! plain `http://` only to loopback, a deadline, a size cap, no redirects). Redirects matter
//! here: following one from the token endpoint would send the client's credentials elsewhere.

use std::future::Future;
use std::pin::Pin;

use scrim_http_client::{HttpClient, HttpError};

use crate::error::OidcError;

/// The provider's side of every exchange. A newtype because neither the trait nor the client
/// is this crate's.
#[derive(Clone, Debug)]
pub(crate) struct ProviderHttp(pub(crate) HttpClient);

impl<'c> openidconnect::AsyncHttpClient<'c> for ProviderHttp {
    type Error = OidcError;
    type Future =
        Pin<Box<dyn Future<Output = Result<openidconnect::HttpResponse, OidcError>> + Send + 'c>>;

    fn call(&'c self, request: openidconnect::HttpRequest) -> Self::Future {
        Box::pin(async move { self.0.send(request).await.map_err(OidcError::from) })
    }
}

impl From<HttpError> for OidcError {
    fn from(e: HttpError) -> Self {
        match e {
            HttpError::Config(m) => OidcError::Config(m),
            other => OidcError::Http(other.to_string()),
        }
    }
}
