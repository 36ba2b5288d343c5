//! The HTTP client: one connection per lane, HTTP/1.1 by our own framing (`h1/`), HTTP/2
//! through hyper's connection-level API.
//!
//! Not a pooled client on purpose: a lane owns exactly one connection, re-opens it when the
//! server closes it, and always knows whether a request paid for a new one. The request is
//! prepared once per target ([`RequestTemplate`]); per request the URI and body are
//! reference-counted clones and the header map a copy.
//!
//! One file a concern: `request.rs` what is sent (the template, rendering, signing),
//! `connect.rs` getting connected (TCP, the proxy tunnel), `connection.rs` the protocols
//! behind one face (`h1/` of our own, hyper's HTTP/2) and responses kept for captures,
//! `redirect.rs` hops, `tls.rs` and `proxy.rs` their settings, `aws/`, `token.rs` and
//! `refresh.rs` credentials, `inspect.rs` what `--inspect` shows.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{AUTHORIZATION, HOST, HeaderValue, USER_AGENT};
use http::{HeaderMap, Method, Request, Uri};
use http_body_util::{BodyExt, Full};

use hyper::client::conn::http2;
use hyper_util::rt::TokioExecutor;
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::outcome::{ErrorKind, Failure, Setup};
use crate::server_time::{ServerReport, ServerSpec};
use crate::targets::template::Values;
use crate::targets::{ExpectStatus, FlowRole, Target, TargetTemplates};

mod aws;
mod connect;
mod connection;
mod h1;
mod inspect;
mod proxy;
mod redirect;
mod refresh;
mod request;
mod tls;
mod token;

pub use aws::{AwsCredentials, CredentialSource, Signer};
use connect::*;
pub use connection::{Connection, Exchange, KEPT_BODY_LIMIT, Kept};
pub use proxy::{Proxy, ProxyRules};
pub use redirect::follow_redirects;
pub(crate) use request::percent_decoded;
use request::*;
pub use request::{ConnectTo, DEFAULT_USER_AGENT, RequestTemplate};
pub use tls::{TlsConfigError, TlsOptions, client_config, client_config_for};
pub use token::TokenSource;
