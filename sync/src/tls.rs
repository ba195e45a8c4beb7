//! rustls configurations for Attach sync: TLS 1.3 only, ring only, peers named by the SAN
//! URI in certificates issued by the hub CA (see [`crate::pki`]) rather than by host name.
//!
//! - [`hub_server_config`]: the hub. Client certificates are optional (an enrolling node has
//!   none yet); a presented one must be a node's, issued by the CA and not revoked.
//! - [`node_server_config`]: a clinic node serving LAN peers; only nodes of the same clinic.
//! - [`client_config`]: a peer with credentials connecting to the hub or to a LAN node.
//! - [`enrol_client_config`]: a node without credentials, pinning the CA by the enrolment code.
//!
//! Invariant: every configuration is built with the ring provider passed explicitly; nothing
//! here relies on a process-wide default provider.

use std::sync::Arc;

use rustls::client::Resumption;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{NoServerSessionStorage, WebPkiClientVerifier};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, DistinguishedName, OtherError,
    RootCertStore, ServerConfig, SignatureScheme, SupportedProtocolVersion,
};
use uuid::Uuid;

use crate::pki::{Credentials, PeerRole, PkiError, fingerprint, role_of};

/// The name clients put in SNI. Certificates are checked by their Attach identity, not by
/// host name, so every client passes this same name.
pub const SERVER_NAME: &str = "attach.invalid";

const TLS13_ONLY: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13];

/// Errors building TLS configurations.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The credentials are unreadable or do not belong together.
    #[error("the TLS credentials are not usable: {0}")]
    Credentials(#[from] PkiError),
    /// The credentials name a role that cannot play this part (e.g. a node as the hub).
    #[error("these credentials belong to {actual}, which cannot act as {wanted}")]
    WrongRole {
        /// The role in the certificate.
        actual: PeerRole,
        /// What the configuration needs.
        wanted: &'static str,
    },
    /// rustls refused the configuration (e.g. the key does not match the certificate).
    #[error("could not build the TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// The client certificate verifier could not be built.
    #[error("could not build the client certificate verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
}

/// Says whether a certificate has been revoked. The hub consults it during every handshake,
/// so revoking a clinic shuts it out at once.
pub trait Revocation: Send + Sync + std::fmt::Debug {
    /// Whether the certificate with SHA-256 `cert_fingerprint`, naming `role`, is revoked.
    fn is_revoked(&self, role: &PeerRole, cert_fingerprint: &[u8; 32]) -> bool;
}

/// Revokes nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoRevocation;

impl Revocation for NoRevocation {
    fn is_revoked(&self, _role: &PeerRole, _cert_fingerprint: &[u8; 32]) -> bool {
        false
    }
}

/// What a client expects to find at the other end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// The hub (`urn:attach:hub`).
    Hub,
    /// Any node of this clinic (LAN sync).
    NodeOfClinic(Uuid),
}

/// The fixed SNI name clients pass to `connect`; names are not checked.
pub fn server_name() -> ServerName<'static> {
    ServerName::DnsName(
        rustls::pki_types::DnsName::try_from(SERVER_NAME)
            .expect("SERVER_NAME is a valid DNS name")
            .to_owned(),
    )
}

/// The Attach identity of the peer after a handshake, from `conn.peer_certificates()`.
pub fn peer_role(peer_certs: Option<&[CertificateDer<'_>]>) -> Option<PeerRole> {
    let leaf = peer_certs?.first()?;
    role_of(leaf).ok()
}

/// After an enrolment handshake, the DER of the CA certificate the server presented and the
/// code pinned: the certificate among `peer_certs` (from `conn.peer_certificates()`) whose
/// SHA-256 starts with `ca_pin`. The enrolling node stores it as its trust anchor.
pub fn pinned_ca_from(
    peer_certs: Option<&[CertificateDer<'_>]>,
    ca_pin: &[u8; 10],
) -> Option<Vec<u8>> {
    peer_certs?
        .iter()
        .find(|cert| fingerprint(cert)[..10] == ca_pin[..])
        .map(|cert| cert.to_vec())
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The parsed pieces of a [`Credentials`].
struct Identity {
    role: PeerRole,
    cert: CertificateDer<'static>,
    ca: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
}

impl Identity {
    fn load(creds: &Credentials) -> Result<Self, TlsError> {
        let role = creds.check()?;
        let key = PrivateKeyDer::from_pem_slice(creds.key_pem.as_bytes())
            .map_err(|e| PkiError::BadKey(e.to_string()))?;
        Ok(Self {
            role,
            cert: CertificateDer::from(creds.cert_der()?),
            ca: CertificateDer::from(creds.ca_der()?),
            key,
        })
    }

    fn roots(&self) -> Result<Arc<RootCertStore>, TlsError> {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca.clone())?;
        Ok(Arc::new(roots))
    }
}

fn rejected(reason: impl Into<String>) -> rustls::Error {
    #[derive(Debug, thiserror::Error)]
    #[error("{0}")]
    struct Rejected(String);
    rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(Rejected(
        reason.into(),
    )))))
}

fn role_error(e: PkiError) -> rustls::Error {
    rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(e))))
}

/// Verifies client certificates: chain to the CA (rustls' WebPKI verifier), then a Node
/// role (of one clinic, if set), then revocation.
#[derive(Debug)]
struct NodeClientVerifier {
    inner: Arc<dyn ClientCertVerifier>,
    mandatory: bool,
    clinic: Option<Uuid>,
    revocation: Arc<dyn Revocation>,
}

impl ClientCertVerifier for NodeClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        let role = role_of(end_entity).map_err(role_error)?;
        let PeerRole::Node { clinic, node } = role else {
            return Err(rejected("only clinic nodes may connect with a certificate"));
        };
        if self.clinic.is_some_and(|expected| expected != clinic) {
            tracing::debug!(%clinic, %node, "refused a node of another clinic");
            return Err(rejected("the node belongs to another clinic"));
        }
        if self.revocation.is_revoked(&role, &fingerprint(end_entity)) {
            tracing::info!(%clinic, %node, "refused a revoked certificate");
            return Err(rustls::Error::InvalidCertificate(CertificateError::Revoked));
        }
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

fn server_config(
    id: Identity,
    chain: Vec<CertificateDer<'static>>,
    verifier: NodeClientVerifier,
) -> Result<Arc<ServerConfig>, TlsError> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(TLS13_ONLY)?
        .with_client_cert_verifier(Arc::new(verifier))
        .with_single_cert(chain, id.key)?;
    // A resumed session skips client certificate verification, and with it the revocation
    // check: every connection must make a full handshake.
    config.session_storage = Arc::new(NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    Ok(Arc::new(config))
}

/// The hub's server configuration: presents the hub certificate and the CA (so an enrolling
/// node can pin the CA); client certificates optional, but a presented one must be a
/// non-revoked node certificate from the CA, or the handshake fails.
pub fn hub_server_config(
    creds: &Credentials,
    revocation: Arc<dyn Revocation>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let id = Identity::load(creds)?;
    if id.role != PeerRole::Hub {
        return Err(TlsError::WrongRole {
            actual: id.role,
            wanted: "the hub",
        });
    }
    let inner = WebPkiClientVerifier::builder_with_provider(id.roots()?, provider())
        .allow_unauthenticated()
        .build()?;
    let verifier = NodeClientVerifier {
        inner,
        mandatory: false,
        clinic: None,
        revocation,
    };
    let chain = vec![id.cert.clone(), id.ca.clone()];
    server_config(id, chain, verifier)
}

/// A node's server configuration for LAN peers: a client certificate is required and must
/// be a non-revoked node certificate from the CA for the same clinic as `creds`.
pub fn node_server_config(
    creds: &Credentials,
    revocation: Arc<dyn Revocation>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let id = Identity::load(creds)?;
    let PeerRole::Node { clinic, .. } = id.role else {
        return Err(TlsError::WrongRole {
            actual: id.role,
            wanted: "a clinic node",
        });
    };
    let inner = WebPkiClientVerifier::builder_with_provider(id.roots()?, provider()).build()?;
    let verifier = NodeClientVerifier {
        inner,
        mandatory: true,
        clinic: Some(clinic),
        revocation,
    };
    let chain = vec![id.cert.clone(), id.ca.clone()];
    server_config(id, chain, verifier)
}

/// How a client decides which server certificate to trust.
#[derive(Debug)]
enum Trust {
    /// Chain to this CA, and the leaf must have the expected role.
    Ca {
        roots: Arc<RootCertStore>,
        expect: Expect,
    },
    /// Chain to the certificate in the presented chain whose SHA-256 starts with the pin,
    /// and the leaf must be the hub.
    Pinned { pin: [u8; 10] },
}

/// Verifies the server by chain and Attach identity, never by host name.
#[derive(Debug)]
struct AttachServerVerifier {
    trust: Trust,
    provider: Arc<CryptoProvider>,
}

impl AttachServerVerifier {
    fn verify_chain(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        roots: &RootCertStore,
        now: UnixTime,
    ) -> Result<(), rustls::Error> {
        let parsed = ParsedCertificate::try_from(end_entity)?;
        rustls::client::verify_server_cert_signed_by_trust_anchor(
            &parsed,
            roots,
            intermediates,
            now,
            self.provider.signature_verification_algorithms.all,
        )
    }
}

impl ServerCertVerifier for AttachServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let expect = match &self.trust {
            Trust::Ca { roots, expect } => {
                self.verify_chain(end_entity, intermediates, roots, now)?;
                *expect
            }
            Trust::Pinned { pin } => {
                let Some(ca) = intermediates
                    .iter()
                    .find(|cert| fingerprint(cert)[..10] == pin[..])
                else {
                    return Err(rejected(
                        "the server did not present the CA certificate the enrolment code pins",
                    ));
                };
                let mut roots = RootCertStore::empty();
                roots.add(ca.clone().into_owned())?;
                self.verify_chain(end_entity, intermediates, &roots, now)?;
                Expect::Hub
            }
        };
        let role = role_of(end_entity).map_err(role_error)?;
        match (expect, role) {
            (Expect::Hub, PeerRole::Hub) => Ok(ServerCertVerified::assertion()),
            (Expect::NodeOfClinic(want), PeerRole::Node { clinic, .. }) if want == clinic => {
                Ok(ServerCertVerified::assertion())
            }
            (Expect::Hub, _) => Err(rejected("the server is not the hub")),
            (Expect::NodeOfClinic(_), _) => {
                Err(rejected("the server is not a node of this clinic"))
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Servers refuse resumption (see [`server_config`]); clients do not try it either.
fn without_resumption(mut config: ClientConfig) -> ClientConfig {
    config.resumption = Resumption::disabled();
    config
}

/// A client configuration for a peer with credentials: presents its certificate and accepts
/// the server only if it chains to the CA in `creds` and is what `expect` says.
pub fn client_config(creds: &Credentials, expect: Expect) -> Result<Arc<ClientConfig>, TlsError> {
    let id = Identity::load(creds)?;
    let provider = provider();
    let verifier = AttachServerVerifier {
        trust: Trust::Ca {
            roots: id.roots()?,
            expect,
        },
        provider: provider.clone(),
    };
    let config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(TLS13_ONLY)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_client_auth_cert(vec![id.cert], id.key)?;
    Ok(Arc::new(without_resumption(config)))
}

/// A client configuration for enrolment: no client certificate; the server is accepted only
/// if its chain contains a certificate whose SHA-256 starts with `ca_pin`, the leaf chains to
/// it and the leaf is the hub. Take the pinned CA afterwards with [`pinned_ca_from`].
pub fn enrol_client_config(ca_pin: [u8; 10]) -> Result<Arc<ClientConfig>, TlsError> {
    let provider = provider();
    let verifier = AttachServerVerifier {
        trust: Trust::Pinned { pin: ca_pin },
        provider: provider.clone(),
    };
    let config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(TLS13_ONLY)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(Arc::new(without_resumption(config)))
}
