//! Transport security (docs/security.md): mutual TLS on every connection a
//! node accepts or opens, or plain TCP where the cluster file has no `[tls]`
//! section (benchmarking on a trusted network; the node says so at start).
//!
//! Contract:
//! - Both ends present a certificate signed by the cluster's CA, or the
//!   handshake fails (the accepting node logs why and the connection ends).
//!   TLS 1.3 only, with ring as the one crypto provider.
//! - A certificate's role is a DNS name among its subject alternative names:
//!   [`node_name`] (`synod-node-<id>`) for node `id`, [`ADMIN_NAME`] for
//!   operators, [`CLIENT_NAME`] for applications. A client dialling node `n`
//!   accepts only a certificate valid for `synod-node-<n>`, so addresses and
//!   hostnames need not appear in certificates; a node accepts a peer's
//!   hello as node `p` only from a certificate valid for `synod-node-<p>`
//!   ([`Credential`]).
//! - The halves returned are boxed streams: the framing above
//!   ([`crate::net`]) is the same for either transport.

use crate::address::Address;
use crate::config::ClusterFile;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// The role name in an operator's certificate: it may change the cluster.
pub const ADMIN_NAME: &str = "synod-admin";
/// The role name in an application's certificate: commands and status only.
pub const CLIENT_NAME: &str = "synod-client";
/// Overrides the cluster file's client certificate (with [`KEY_ENV`]).
pub const CERT_ENV: &str = "SYNOD_CERT";
/// Overrides the cluster file's client key (with [`CERT_ENV`]).
pub const KEY_ENV: &str = "SYNOD_KEY";

/// The role name in node `id`'s certificate.
pub fn node_name(id: u32) -> String {
    format!("synod-node-{id}")
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {what} {}: {cause}", .path.display())]
    Read {
        what: &'static str,
        path: PathBuf,
        cause: String,
    },
    #[error("{}: {why}", .path.display())]
    Invalid { path: PathBuf, why: String },
    #[error("TLS set-up: {0}")]
    Setup(String),
    #[error(
        "this cluster uses TLS and names no client certificate: set [tls] client_cert and \
         client_key, or {CERT_ENV} and {KEY_ENV}"
    )]
    NoClientCertificate,
}

/// How long dialling a node (TCP and TLS handshakes) may take.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The read half of a connection, plain or TLS.
pub type Reader = Box<dyn AsyncRead + Send + Unpin>;
/// The write half of a connection, plain or TLS.
pub type Writer = Box<dyn AsyncWrite + Send + Unpin>;

/// What the other end of an accepted connection proved about itself.
pub struct Credential(Option<CertificateDer<'static>>);

impl Credential {
    /// Whether the certificate names this role (always, on a plain
    /// cluster: it authenticates nobody, and says so at start).
    fn names(&self, name: &str) -> bool {
        let Some(der) = &self.0 else { return true };
        let Ok(name) = ServerName::try_from(name.to_string()) else {
            return false;
        };
        webpki::EndEntityCert::try_from(der)
            .and_then(|cert| cert.verify_is_valid_for_subject_name(&name))
            .is_ok()
    }

    /// May this connection speak as node `id`?
    pub fn is_node(&self, id: u32) -> bool {
        self.names(&node_name(id))
    }

    /// May this connection change the cluster?
    pub fn is_admin(&self) -> bool {
        self.names(ADMIN_NAME)
    }

    /// Is this a client's or an operator's certificate (not a node's)?
    pub fn is_client(&self) -> bool {
        self.names(CLIENT_NAME) || self.names(ADMIN_NAME)
    }
}

/// How one process secures its connections: plain, or TLS with its own
/// certificate. Cheap to clone.
#[derive(Clone, Default)]
pub struct Security(Option<Arc<Tls>>);

struct Tls {
    /// Only a node accepts connections.
    acceptor: Option<TlsAcceptor>,
    /// The same, offering HTTP/2 by ALPN (gRPC clients require it), for
    /// the node's etcd listener.
    h2_acceptor: Option<TlsAcceptor>,
    connector: TlsConnector,
}

impl Security {
    /// Plain TCP: nobody is authenticated.
    pub fn plain() -> Self {
        Security(None)
    }

    pub fn is_tls(&self) -> bool {
        self.0.is_some()
    }

    /// Node `id` of `cluster`: its own certificate for both accepting and
    /// dialling peers.
    pub fn node(cluster: &ClusterFile, id: u32) -> Result<Self, TlsError> {
        let Some(files) = &cluster.tls else {
            return Ok(Security::plain());
        };
        let roots = load_roots(&files.ca)?;
        let (chain, key) = load_identity(&files.node_cert(id), &files.node_key(id))?;
        let provider = provider();
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            roots.clone(),
            provider.clone(),
        )
        .build()
        .map_err(|e| TlsError::Setup(e.to_string()))?;
        let server = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| TlsError::Setup(e.to_string()))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain.clone(), key.clone_key())
            .map_err(|e| TlsError::Invalid {
                path: files.node_cert(id),
                why: e.to_string(),
            })?;
        let mut h2 = server.clone();
        h2.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Security(Some(Arc::new(Tls {
            acceptor: Some(TlsAcceptor::from(Arc::new(server))),
            h2_acceptor: Some(TlsAcceptor::from(Arc::new(h2))),
            connector: connector(roots, chain, key, &files.node_cert(id))?,
        }))))
    }

    /// A client or tool of `cluster`: the certificate named by
    /// [`CERT_ENV`]/[`KEY_ENV`] if set, else the cluster file's
    /// `client_cert`/`client_key`.
    pub fn client(cluster: &ClusterFile) -> Result<Self, TlsError> {
        let from_env = match (std::env::var_os(CERT_ENV), std::env::var_os(KEY_ENV)) {
            (Some(cert), Some(key)) => Some((PathBuf::from(cert), PathBuf::from(key))),
            _ => None,
        };
        Security::client_with(
            cluster,
            from_env.as_ref().map(|(c, k)| (c.as_path(), k.as_path())),
        )
    }

    /// A client of `cluster` presenting `identity` (certificate, key), or
    /// the cluster file's client certificate when `None`.
    pub fn client_with(
        cluster: &ClusterFile,
        identity: Option<(&Path, &Path)>,
    ) -> Result<Self, TlsError> {
        let Some(files) = &cluster.tls else {
            return Ok(Security::plain());
        };
        let (cert, key) = match identity {
            Some((cert, key)) => (cert.to_path_buf(), key.to_path_buf()),
            None => match (&files.client_cert, &files.client_key) {
                (Some(cert), Some(key)) => (cert.clone(), key.clone()),
                _ => return Err(TlsError::NoClientCertificate),
            },
        };
        let roots = load_roots(&files.ca)?;
        let (chain, key) = load_identity(&cert, &key)?;
        Ok(Security(Some(Arc::new(Tls {
            acceptor: None,
            h2_acceptor: None,
            connector: connector(roots, chain, key, &cert)?,
        }))))
    }

    /// Opens a connection to node `node` at `addr`, checking (with TLS) that
    /// the certificate there is that node's.
    pub async fn connect(&self, addr: &Address, node: u32) -> io::Result<(Reader, Writer)> {
        // A node that is paused or cut off must not hold a link in a
        // handshake for ever: the link retries with backoff instead.
        tokio::time::timeout(CONNECT_TIMEOUT, self.connect_now(addr, node))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no handshake within 5 s"))?
    }

    async fn connect_now(&self, addr: &Address, node: u32) -> io::Result<(Reader, Writer)> {
        // Resolved at every attempt: a machine back with another IP is
        // found again.
        let stream = TcpStream::connect(addr.as_str()).await?;
        let _ = stream.set_nodelay(true);
        match &self.0 {
            None => {
                let (read, write) = stream.into_split();
                Ok((Box::new(read), Box::new(write)))
            }
            Some(tls) => {
                let name = ServerName::try_from(node_name(node))
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
                let stream = tls.connector.connect(name, stream).await?;
                let (read, write) = tokio::io::split(stream);
                Ok((Box::new(read), Box::new(write)))
            }
        }
    }

    /// Completes an accepted connection's TLS handshake (nothing, on a plain
    /// cluster). An error says why a stranger was refused.
    pub async fn accept(&self, stream: TcpStream) -> io::Result<(Reader, Writer, Credential)> {
        let acceptor = self.0.as_ref().and_then(|tls| tls.acceptor.as_ref());
        Security::accept_with(self.is_tls(), acceptor, stream).await
    }

    /// [`Security::accept`] for the node's gRPC (etcd) listener: it offers
    /// HTTP/2 by ALPN.
    pub async fn accept_h2(&self, stream: TcpStream) -> io::Result<(Reader, Writer, Credential)> {
        let acceptor = self.0.as_ref().and_then(|tls| tls.h2_acceptor.as_ref());
        Security::accept_with(self.is_tls(), acceptor, stream).await
    }

    async fn accept_with(
        tls: bool,
        acceptor: Option<&TlsAcceptor>,
        stream: TcpStream,
    ) -> io::Result<(Reader, Writer, Credential)> {
        let _ = stream.set_nodelay(true);
        match acceptor {
            None if tls => Err(io::Error::other("a client does not accept")),
            None => {
                let (read, write) = stream.into_split();
                Ok((Box::new(read), Box::new(write), Credential(None)))
            }
            Some(acceptor) => {
                let stream = acceptor.accept(stream).await?;
                let cert = stream
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|chain| chain.first())
                    .map(|c| c.clone().into_owned())
                    .ok_or_else(|| io::Error::other("no client certificate"))?;
                let (read, write) = tokio::io::split(stream);
                Ok((Box::new(read), Box::new(write), Credential(Some(cert))))
            }
        }
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn connector(
    roots: Arc<rustls::RootCertStore>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    cert_path: &Path,
) -> Result<TlsConnector, TlsError> {
    let client = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| TlsError::Setup(e.to_string()))?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(|e| TlsError::Invalid {
            path: cert_path.to_path_buf(),
            why: e.to_string(),
        })?;
    Ok(TlsConnector::from(Arc::new(client)))
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| TlsError::Read {
        what,
        path: path.to_path_buf(),
        cause: if e.kind() == io::ErrorKind::NotFound {
            format!("{e} (`synod certs --cluster FILE` writes the files [tls] names)")
        } else {
            e.to_string()
        },
    })
}

fn certificates(what: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read(what, path)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Invalid {
            path: path.to_path_buf(),
            why: format!("not a PEM certificate file: {e}"),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Invalid {
            path: path.to_path_buf(),
            why: "holds no certificate".into(),
        });
    }
    Ok(certs)
}

fn load_roots(ca: &Path) -> Result<Arc<rustls::RootCertStore>, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in certificates("CA certificate", ca)? {
        roots.add(cert).map_err(|e| TlsError::Invalid {
            path: ca.to_path_buf(),
            why: format!("not a usable CA certificate: {e}"),
        })?;
    }
    Ok(Arc::new(roots))
}

fn load_identity(
    cert: &Path,
    key: &Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    let chain = certificates("certificate", cert)?;
    let bytes = read("private key", key)?;
    let key_der = PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| TlsError::Invalid {
        path: key.to_path_buf(),
        why: format!("not a PEM private key: {e}"),
    })?;
    Ok((chain, key_der))
}

/// Checks that `cert` (PEM) is signed by the CA in `ca` (PEM), valid now
/// and for `name`, and usable to dial (every role dials) and, for a node
/// (`serves`), to accept: what `synod certs` verifies of what it writes.
pub fn verify_issued(ca: &Path, cert: &Path, name: &str, serves: bool) -> Result<(), TlsError> {
    use rustls::client::danger::ServerCertVerifier;
    let invalid = |why: String| TlsError::Invalid {
        path: cert.to_path_buf(),
        why,
    };
    let roots = load_roots(ca)?;
    let chain = certificates("certificate", cert)?;
    let now = rustls::pki_types::UnixTime::now();
    let server_name = ServerName::try_from(name.to_string()).map_err(|e| invalid(e.to_string()))?;
    let as_client =
        rustls::server::WebPkiClientVerifier::builder_with_provider(roots.clone(), provider())
            .build()
            .map_err(|e| TlsError::Setup(e.to_string()))?;
    as_client
        .verify_client_cert(&chain[0], &chain[1..], now)
        .map_err(|e| invalid(e.to_string()))?;
    if !Credential(Some(chain[0].clone())).names(name) {
        return Err(invalid(format!("not valid for {name}")));
    }
    if serves {
        let as_server =
            rustls::client::WebPkiServerVerifier::builder_with_provider(roots, provider())
                .build()
                .map_err(|e| TlsError::Setup(e.to_string()))?;
        as_server
            .verify_server_cert(&chain[0], &chain[1..], &server_name, &[], now)
            .map_err(|e| invalid(e.to_string()))?;
    }
    Ok(())
}
