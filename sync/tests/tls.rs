//! Real TLS handshakes over loopback TCP between hub, nodes and enrolling clients.
#![allow(clippy::unwrap_used)] // Test code (helpers outside #[test] fns too): a failed unwrap is a failed test.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use attach_sync::pki::{Credentials, EnrolmentCode, HubCa, NodeKey, PeerRole, PkiError};
use attach_sync::tls::{
    Expect, NoRevocation, Revocation, TlsError, client_config, enrol_client_config,
    hub_server_config, node_server_config, peer_role, pinned_ca_from, server_name,
};
use parking_lot::Mutex;
use proptest::prelude::*;
use rustls::{ClientConfig, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};
use uuid::Uuid;

/// What each side saw: the peer's role (and, for the client, the peer's certificates).
#[derive(Debug)]
struct Outcome {
    server: Result<Option<PeerRole>, String>,
    client: Result<(Option<PeerRole>, Vec<Vec<u8>>), String>,
}

impl Outcome {
    fn both_ok(&self) -> bool {
        self.server.is_ok() && self.client.is_ok()
    }
}

/// Runs one connection: handshake, then the client sends "ping" and the server answers "pong".
async fn exchange(server: Arc<ServerConfig>, client: Arc<ClientConfig>) -> Outcome {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = TlsAcceptor::from(server);
    let server_side = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.map_err(|e| e.to_string())?;
        let mut tls = acceptor.accept(tcp).await.map_err(|e| e.to_string())?;
        let role = peer_role(tls.get_ref().1.peer_certificates());
        let mut buf = [0u8; 4];
        tls.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
        assert_eq!(&buf, b"ping");
        tls.write_all(b"pong").await.map_err(|e| e.to_string())?;
        tls.flush().await.map_err(|e| e.to_string())?;
        let _ = tls.shutdown().await;
        Ok::<_, String>(role)
    });
    let client_side = async {
        let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let mut tls = TlsConnector::from(client)
            .connect(server_name(), tcp)
            .await
            .map_err(|e| e.to_string())?;
        let certs = tls.get_ref().1.peer_certificates().map(|c| c.to_vec());
        let role = peer_role(certs.as_deref());
        tls.write_all(b"ping").await.map_err(|e| e.to_string())?;
        tls.flush().await.map_err(|e| e.to_string())?;
        let mut buf = [0u8; 4];
        tls.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
        assert_eq!(&buf, b"pong");
        let der = certs
            .unwrap_or_default()
            .into_iter()
            .map(|c| c.to_vec())
            .collect();
        Ok::<_, String>((role, der))
    };
    let run = async {
        let client = client_side.await;
        let server = server_side.await.unwrap();
        Outcome { server, client }
    };
    tokio::time::timeout(StdDuration::from_secs(20), run)
        .await
        .expect("handshake hung")
}

struct Pki {
    ca: HubCa,
    hub: Credentials,
}

fn pki() -> Pki {
    let ca = HubCa::generate("Test hub CA").unwrap();
    let hub = ca
        .issue_hub(&["localhost".to_owned(), "127.0.0.1".to_owned()])
        .unwrap();
    Pki { ca, hub }
}

fn node(ca: &HubCa, clinic: Uuid) -> (Credentials, PeerRole) {
    let key = NodeKey::generate().unwrap();
    let node = Uuid::new_v4();
    let cert_pem = ca
        .issue_node(
            &key.public_key_der(),
            clinic,
            node,
            time::Duration::days(365),
        )
        .unwrap();
    let creds = Credentials {
        ca_pem: ca.cert_pem(),
        cert_pem,
        key_pem: key.key_pem(),
    };
    (creds, PeerRole::Node { clinic, node })
}

/// Revokes certificates by fingerprint; can change while a server runs.
#[derive(Debug, Default)]
struct RevokedSet(Mutex<HashSet<[u8; 32]>>);

impl Revocation for RevokedSet {
    fn is_revoked(&self, _role: &PeerRole, cert_fingerprint: &[u8; 32]) -> bool {
        self.0.lock().contains(cert_fingerprint)
    }
}

fn no_revocation() -> Arc<dyn Revocation> {
    Arc::new(NoRevocation)
}

#[tokio::test]
async fn hub_and_node_authenticate_each_other() {
    let Pki { ca, hub } = pki();
    let (node_creds, node_role) = node(&ca, Uuid::new_v4());
    let out = exchange(
        hub_server_config(&hub, no_revocation()).unwrap(),
        client_config(&node_creds, Expect::Hub).unwrap(),
    )
    .await;
    assert_eq!(out.server.unwrap(), Some(node_role));
    let (client_saw, chain) = out.client.unwrap();
    assert_eq!(client_saw, Some(PeerRole::Hub));
    // The hub sends its CA along with its own certificate.
    assert_eq!(chain.len(), 2);
    assert_eq!(chain[1], ca.cert_der());
}

#[tokio::test]
async fn enrolling_client_with_the_right_pin_gets_through_and_pins_the_ca() {
    let Pki { ca, hub } = pki();
    let code = EnrolmentCode::new_for(&ca);
    let out = exchange(
        hub_server_config(&hub, no_revocation()).unwrap(),
        enrol_client_config(code.ca_pin).unwrap(),
    )
    .await;
    // No client certificate: the hub sees nobody in particular.
    assert_eq!(out.server.unwrap(), None);
    let (role, chain) = out.client.unwrap();
    assert_eq!(role, Some(PeerRole::Hub));
    let chain: Vec<_> = chain
        .into_iter()
        .map(rustls::pki_types::CertificateDer::from)
        .collect();
    let pinned = pinned_ca_from(Some(&chain), &code.ca_pin).unwrap();
    assert_eq!(pinned, ca.cert_der());
    assert!(code.pin_matches(&pinned));
}

#[tokio::test]
async fn enrolling_client_with_a_wrong_pin_refuses_the_hub() {
    let Pki { hub, .. } = pki();
    let impostor = HubCa::generate("Test hub CA").unwrap();
    let code = EnrolmentCode::new_for(&impostor);
    let out = exchange(
        hub_server_config(&hub, no_revocation()).unwrap(),
        enrol_client_config(code.ca_pin).unwrap(),
    )
    .await;
    let err = out.client.unwrap_err();
    assert!(err.contains("pins"), "{err}");
    assert!(out.server.is_err());
}

#[tokio::test]
async fn enrolling_client_refuses_a_node_of_the_pinned_ca_posing_as_hub() {
    let Pki { ca, .. } = pki();
    let (node_a, _) = node(&ca, Uuid::new_v4());
    let code = EnrolmentCode::new_for(&ca);
    let out = exchange(
        node_server_config(&node_a, no_revocation()).unwrap(),
        enrol_client_config(code.ca_pin).unwrap(),
    )
    .await;
    let err = out.client.unwrap_err();
    assert!(err.contains("not the hub"), "{err}");
}

#[tokio::test]
async fn hub_refuses_a_node_certificate_from_another_ca() {
    let Pki { ca, hub } = pki();
    let foreign_ca = HubCa::generate("Test hub CA").unwrap();
    let (foreign, _) = node(&foreign_ca, Uuid::new_v4());
    // The client trusts the real hub, but its own certificate comes from elsewhere.
    let creds = Credentials {
        ca_pem: ca.cert_pem(),
        ..foreign
    };
    let out = exchange(
        hub_server_config(&hub, no_revocation()).unwrap(),
        client_config(&creds, Expect::Hub).unwrap(),
    )
    .await;
    // Same CA name, different key: webpki finds the name but not the signature.
    let err = out.server.unwrap_err();
    assert!(
        err.contains("BadSignature") || err.contains("UnknownIssuer"),
        "{err}"
    );
    assert!(out.client.is_err());
}

#[tokio::test]
async fn hub_refuses_a_revoked_node_at_the_next_handshake() {
    let Pki { ca, hub } = pki();
    let clinic = Uuid::new_v4();
    let (kept, _) = node(&ca, clinic);
    let (revoked, _) = node(&ca, clinic);
    let revocations = Arc::new(RevokedSet::default());
    let server = hub_server_config(&hub, revocations.clone()).unwrap();
    // A client that would resume its session if the hub let it: resumption skips client
    // certificate checks, so the hub must refuse it for revocation to bite at once.
    let mut client = ClientConfig::clone(&client_config(&revoked, Expect::Hub).unwrap());
    client.resumption = rustls::client::Resumption::default();
    let client = Arc::new(client);

    assert!(exchange(server.clone(), client.clone()).await.both_ok());
    let der = revoked.cert_der().unwrap();
    revocations
        .0
        .lock()
        .insert(attach_sync::pki::fingerprint(&der));

    let out = exchange(server.clone(), client).await;
    let err = out.server.unwrap_err();
    assert!(err.to_lowercase().contains("revoked"), "{err}");
    assert!(out.client.is_err());
    // Another node of the same clinic is unaffected.
    let out = exchange(server, client_config(&kept, Expect::Hub).unwrap()).await;
    assert!(out.both_ok(), "{out:?}");
}

#[tokio::test]
async fn hub_refuses_a_client_presenting_the_hub_certificate() {
    let Pki { hub, .. } = pki();
    // The hub's own certificate has no clientAuth purpose and is not a node.
    let out = exchange(
        hub_server_config(&hub, no_revocation()).unwrap(),
        client_config(&hub, Expect::Hub).unwrap(),
    )
    .await;
    assert!(out.server.is_err(), "{out:?}");
}

#[tokio::test]
async fn client_expecting_the_hub_refuses_a_node_server() {
    let Pki { ca, .. } = pki();
    let clinic = Uuid::new_v4();
    let (server_node, _) = node(&ca, clinic);
    let (client_node, _) = node(&ca, clinic);
    let out = exchange(
        node_server_config(&server_node, no_revocation()).unwrap(),
        client_config(&client_node, Expect::Hub).unwrap(),
    )
    .await;
    let err = out.client.unwrap_err();
    assert!(err.contains("not the hub"), "{err}");
}

#[tokio::test]
async fn lan_node_server_accepts_its_own_clinic_only() {
    let Pki { ca, hub } = pki();
    let clinic_a = Uuid::new_v4();
    let clinic_b = Uuid::new_v4();
    let (a1, a1_role) = node(&ca, clinic_a);
    let (a2, a2_role) = node(&ca, clinic_a);
    let (b1, _) = node(&ca, clinic_b);
    let server = node_server_config(&a1, no_revocation()).unwrap();

    let out = exchange(
        server.clone(),
        client_config(&a2, Expect::NodeOfClinic(clinic_a)).unwrap(),
    )
    .await;
    assert_eq!(out.server.unwrap(), Some(a2_role));
    assert_eq!(out.client.unwrap().0, Some(a1_role));

    // A node of clinic B, even one willing to talk to clinic A, is refused by the server.
    let out = exchange(
        server.clone(),
        client_config(&b1, Expect::NodeOfClinic(clinic_a)).unwrap(),
    )
    .await;
    let err = out.server.unwrap_err();
    assert!(err.contains("another clinic"), "{err}");
    assert!(out.client.is_err());

    // And a node of clinic B looking for its own clinic refuses clinic A's server.
    let out = exchange(
        server.clone(),
        client_config(&b1, Expect::NodeOfClinic(clinic_b)).unwrap(),
    )
    .await;
    let err = out.client.unwrap_err();
    assert!(err.contains("not a node of this clinic"), "{err}");

    // The hub's certificate is not a client identity on the LAN.
    let out = exchange(
        server,
        client_config(&hub, Expect::NodeOfClinic(clinic_a)).unwrap(),
    )
    .await;
    assert!(out.server.is_err(), "{out:?}");
}

#[tokio::test]
async fn lan_node_server_requires_a_client_certificate() {
    let Pki { ca, .. } = pki();
    let clinic = Uuid::new_v4();
    let (a1, _) = node(&ca, clinic);
    let (a2, _) = node(&ca, clinic);
    // A client that trusts the server but presents no certificate.
    let verifying = client_config(&a2, Expect::NodeOfClinic(clinic)).unwrap();
    let anonymous = ClientConfig::clone(&verifying);
    let anonymous = {
        let mut config = anonymous;
        config.client_auth_cert_resolver = Arc::new(NoClientCert);
        Arc::new(config)
    };
    let out = exchange(node_server_config(&a1, no_revocation()).unwrap(), anonymous).await;
    assert!(out.server.is_err(), "{out:?}");
    assert!(out.client.is_err(), "{out:?}");
}

#[derive(Debug)]
struct NoClientCert;

impl rustls::client::ResolvesClientCert for NoClientCert {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[rustls::SignatureScheme],
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        None
    }

    fn has_certs(&self) -> bool {
        false
    }
}

#[test]
fn configs_refuse_credentials_of_the_wrong_role() {
    let Pki { ca, hub } = pki();
    let (node_creds, _) = node(&ca, Uuid::new_v4());
    assert!(matches!(
        hub_server_config(&node_creds, no_revocation()),
        Err(TlsError::WrongRole { .. })
    ));
    assert!(matches!(
        node_server_config(&hub, no_revocation()),
        Err(TlsError::WrongRole { .. })
    ));
    let other = HubCa::generate("Other").unwrap();
    let mismatched = Credentials {
        key_pem: other.key_pem(),
        ..node_creds
    };
    assert!(matches!(
        client_config(&mismatched, Expect::Hub),
        Err(TlsError::Credentials(PkiError::KeyMismatch { .. }))
    ));
}

#[test]
fn enrolment_code_text_form() {
    let code = EnrolmentCode {
        secret: [0; 10],
        ca_pin: [0xff; 10],
    };
    let text = code.to_string();
    assert_eq!(text, "0000-0000-0000-0000-ZZZZ-ZZZZ-ZZZZ-ZZZZ");
    // Lower case, spaces, and the look-alikes O, I and L are all accepted.
    let typed = " oooo 0000-0000-0000-zzzz zzzz ZZZZ-ZZZZ ";
    assert_eq!(typed.parse::<EnrolmentCode>().unwrap(), code);
    let ones: EnrolmentCode = "IiLl-1111-1111-1111-1111-1111-1111-1111".parse().unwrap();
    assert_eq!(
        ones,
        "1111-1111-1111-1111-1111-1111-1111-1111".parse().unwrap()
    );

    let short = "0000-0000".parse::<EnrolmentCode>().unwrap_err();
    assert!(matches!(short, PkiError::CodeLength { found: 8 }));
    assert!(short.to_string().contains("32"), "{short}");
    assert!(short.to_string().contains('8'), "{short}");

    let long = format!("{text}-0");
    assert!(matches!(
        long.parse::<EnrolmentCode>(),
        Err(PkiError::CodeLength { found: 33 })
    ));

    let bad = "0000-0U00-0000-0000-ZZZZ-ZZZZ-ZZZZ-ZZZZ"
        .parse::<EnrolmentCode>()
        .unwrap_err();
    assert!(
        matches!(
            bad,
            PkiError::CodeCharacter {
                character: 'U',
                position: 7
            }
        ),
        "{bad:?}"
    );
    let message = bad.to_string();
    assert!(
        message.contains('7') && message.contains("'U'"),
        "{message}"
    );
}

proptest! {
    #[test]
    fn enrolment_code_round_trips(secret in any::<[u8; 10]>(), ca_pin in any::<[u8; 10]>()) {
        let code = EnrolmentCode { secret, ca_pin };
        let text = code.to_string();
        prop_assert_eq!(text.len(), 39);
        prop_assert!(text.split('-').all(|group| group.len() == 4));
        prop_assert_eq!(text.parse::<EnrolmentCode>().unwrap(), code);
        prop_assert_eq!(text.to_lowercase().replace('-', " ").parse::<EnrolmentCode>().unwrap(), code);
    }
}
