//! The webhook channel against a real HTTP partner endpoint on 127.0.0.1 (DESIGN §6).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use byoc_connector::channel::signature::{self, SIGNATURE_TOLERANCE};
use byoc_connector::channel::{
    deliver_with_retry, Channel, Delivery, DeliveryError, RetryPolicy, WebhookChannel,
    WebhookSettings,
};
use byoc_connector::secret::SecretString;
use bytes::Bytes;
use tokio_util::sync::CancellationToken;

const SECRET: &str = "whsec_partner_test_secret";

/// One answer the partner gives, in order; after the script it answers 200.
#[derive(Clone, Default)]
struct Answer {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    delay: Duration,
}

impl Answer {
    fn status(status: u16) -> Self {
        Self {
            status,
            ..Self::default()
        }
    }
}

/// What the partner saw of one request.
#[derive(Clone)]
struct Received {
    peer: SocketAddr,
    headers: HeaderMap,
    body: Bytes,
}

#[derive(Clone, Default)]
struct PartnerState {
    script: Arc<Mutex<VecDeque<Answer>>>,
    received: Arc<Mutex<Vec<Received>>>,
}

/// A partner endpoint on a real socket, answering from a script.
struct Partner {
    url: String,
    state: PartnerState,
}

impl Partner {
    async fn start(script: Vec<Answer>) -> Self {
        let state = PartnerState {
            script: Arc::new(Mutex::new(script.into())),
            received: Arc::default(),
        };
        let router = Router::new()
            .route("/hook", post(answer))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            .unwrap();
        });
        Self {
            url: format!("http://{address}/hook"),
            state,
        }
    }

    fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }
}

async fn answer(
    State(state): State<PartnerState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    state.received.lock().unwrap().push(Received {
        peer,
        headers,
        body,
    });
    let next = state.script.lock().unwrap().pop_front();
    let answer = next.unwrap_or_else(|| Answer::status(200));
    tokio::time::sleep(answer.delay).await;
    let mut response = (StatusCode::from_u16(answer.status).unwrap(), answer.body).into_response();
    for (name, value) in answer.headers {
        response.headers_mut().insert(name, value.parse().unwrap());
    }
    response
}

fn delivery() -> Delivery {
    Delivery {
        idempotency_key: "0f8fad5b-d9cb-469f-a165-70867728950e".to_owned(),
        event_type: "interaction.message".into(),
        body: Bytes::from_static(
            br#"{"id":"e1","type":"interaction.message","entry":{"text":"hi"}}"#,
        ),
    }
}

fn signed_channel(url: &str) -> WebhookChannel {
    let options = WebhookSettings {
        secret: Some(SecretString::new(SECRET)),
        ..WebhookSettings::new(url)
    };
    WebhookChannel::new(options).unwrap()
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .unwrap_or_else(|| panic!("{name} is missing"))
        .to_str()
        .unwrap()
}

fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        initial_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
        ..RetryPolicy::default()
    }
}

/// HMAC-SHA256 computed here from the documented algorithm, apart from the library's signer.
fn independent_v1(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let mut message = format!("{timestamp}.").into_bytes();
    message.extend_from_slice(body);
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_bytes());
    let tag = aws_lc_rs::hmac::sign(&key, &message);
    hex::encode(tag.as_ref())
}

#[tokio::test]
async fn a_2xx_answer_is_delivered_with_every_header_of_the_contract() {
    let partner = Partner::start(vec![Answer::status(202)]).await;
    let channel = signed_channel(&partner.url);
    let delivery = delivery();

    channel.deliver(&delivery).await.unwrap();

    let received = partner.received();
    assert_eq!(received.len(), 1);
    let request = &received[0];
    assert_eq!(request.body, delivery.body);
    assert_eq!(header(&request.headers, "content-type"), "application/json");
    assert_eq!(
        header(&request.headers, "idempotency-key"),
        delivery.idempotency_key
    );
    assert_eq!(
        header(&request.headers, "x-byoc-event-type"),
        "interaction.message"
    );

    let signature_header = header(&request.headers, "x-byoc-signature");
    signature::verify(
        &SecretString::new(SECRET),
        signature_header,
        &request.body,
        SIGNATURE_TOLERANCE,
    )
    .unwrap();
    let (timestamp, v1) = signature_header
        .strip_prefix("t=")
        .and_then(|rest| rest.split_once(",v1="))
        .unwrap();
    assert_eq!(v1, independent_v1(SECRET, timestamp, &request.body));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(now.abs_diff(timestamp.parse().unwrap()) <= SIGNATURE_TOLERANCE.as_secs());
}

#[tokio::test]
async fn deliveries_without_a_secret_carry_no_signature() {
    let partner = Partner::start(vec![]).await;
    let channel = WebhookChannel::new(WebhookSettings::new(&partner.url)).unwrap();
    channel.deliver(&delivery()).await.unwrap();
    assert!(partner.received()[0]
        .headers
        .get("x-byoc-signature")
        .is_none());
}

#[tokio::test]
async fn connections_are_reused_across_deliveries() {
    let partner = Partner::start(vec![]).await;
    let channel = signed_channel(&partner.url);
    for _ in 0..5 {
        channel.deliver(&delivery()).await.unwrap();
    }
    let peers: Vec<SocketAddr> = partner.received().iter().map(|r| r.peer).collect();
    assert_eq!(peers.len(), 5);
    assert!(peers.iter().all(|peer| *peer == peers[0]), "{peers:?}");
}

#[tokio::test]
async fn a_503_then_a_200_is_delivered_after_a_retry_with_the_same_idempotency_key() {
    let partner = Partner::start(vec![Answer::status(503), Answer::status(200)]).await;
    let channel = signed_channel(&partner.url);
    let delivery = delivery();

    deliver_with_retry(
        &channel,
        &delivery,
        &fast_retries(),
        &CancellationToken::new(),
    )
    .await
    .unwrap();

    let received = partner.received();
    assert_eq!(received.len(), 2);
    for request in &received {
        assert_eq!(
            header(&request.headers, "idempotency-key"),
            delivery.idempotency_key
        );
    }
}

#[tokio::test]
async fn retry_after_in_seconds_or_as_a_date_comes_back_with_the_retryable_error() {
    let in_two_minutes = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(120));
    let partner = Partner::start(vec![
        Answer {
            headers: vec![("retry-after", "7".to_owned())],
            ..Answer::status(503)
        },
        Answer {
            headers: vec![("retry-after", in_two_minutes)],
            ..Answer::status(429)
        },
        Answer::status(408),
    ])
    .await;
    let channel = signed_channel(&partner.url);

    let error = channel.deliver(&delivery()).await.unwrap_err();
    assert_eq!(
        error.retry_after(),
        Some(Duration::from_secs(7)),
        "{error:?}"
    );

    let error = channel.deliver(&delivery()).await.unwrap_err();
    let retry_after = error.retry_after().unwrap();
    assert!(retry_after > Duration::from_secs(100), "{retry_after:?}");
    assert!(retry_after <= Duration::from_secs(120), "{retry_after:?}");

    let error = channel.deliver(&delivery()).await.unwrap_err();
    assert!(error.is_retryable());
    assert_eq!(error.retry_after(), None);
}

#[tokio::test]
async fn a_400_is_permanent_with_the_status_and_the_first_kib_of_the_body() {
    let body: Vec<u8> = (0..5_000u32).map(|i| (i % 251) as u8).collect();
    let partner = Partner::start(vec![Answer {
        body: body.clone(),
        ..Answer::status(400)
    }])
    .await;
    let channel = signed_channel(&partner.url);

    let outcome = deliver_with_retry(
        &channel,
        &delivery(),
        &fast_retries(),
        &CancellationToken::new(),
    )
    .await;

    let Err(byoc_connector::channel::RetryStopped::Permanent(failure)) = outcome else {
        panic!("expected a permanent failure, got {outcome:?}");
    };
    assert_eq!(failure.status, Some(http::StatusCode::BAD_REQUEST));
    assert_eq!(failure.body_prefix.len(), 1024);
    assert_eq!(&failure.body_prefix[..], &body[..1024]);
    assert_eq!(
        partner.received().len(),
        1,
        "a permanent failure is not retried"
    );
}

#[tokio::test]
async fn a_refused_connection_is_retryable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let channel = signed_channel(&format!("http://{address}/hook"));

    let error = channel.deliver(&delivery()).await.unwrap_err();

    assert!(
        matches!(&error, DeliveryError::Retryable { reason, .. } if reason.starts_with("connect error")),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_partner_slower_than_the_request_timeout_is_retryable() {
    let partner = Partner::start(vec![Answer {
        delay: Duration::from_secs(30),
        ..Answer::status(200)
    }])
    .await;
    let options = WebhookSettings {
        request_timeout: Duration::from_millis(200),
        ..WebhookSettings::new(&partner.url)
    };
    let channel = WebhookChannel::new(options).unwrap();

    let error = channel.deliver(&delivery()).await.unwrap_err();

    assert!(
        matches!(&error, DeliveryError::Retryable { reason, .. } if reason.starts_with("request timed out")),
        "{error:?}"
    );
}

#[tokio::test]
async fn errors_and_debug_output_never_show_the_secret_or_the_url_query() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let options = WebhookSettings {
        secret: Some(SecretString::new(SECRET)),
        ..WebhookSettings::new(format!("http://{address}/hook?token=query-secret"))
    };
    let shown_options = format!("{options:?}");
    let channel = WebhookChannel::new(options).unwrap();
    let error = channel.deliver(&delivery()).await.unwrap_err();
    for shown in [
        shown_options,
        format!("{channel:?}"),
        format!("{error:?}"),
        error.to_string(),
    ] {
        assert!(!shown.contains(SECRET), "{shown}");
        assert!(!shown.contains("query-secret"), "{shown}");
    }
}

#[tokio::test]
async fn credentials_in_the_url_are_sent_as_basic_auth() {
    let partner = Partner::start(vec![]).await;
    let url = partner
        .url
        .replacen("http://", "http://Aladdin:open%20sesame@", 1);
    let channel = WebhookChannel::new(WebhookSettings::new(url)).unwrap();

    channel.deliver(&delivery()).await.unwrap();

    let received = partner.received();
    assert_eq!(
        header(&received[0].headers, "authorization"),
        "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
    );
}

/// A partner that answers with a head promising 100 bytes, sends 3 and then stalls.
async fn partner_stalling_its_body() -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = Vec::new();
        let mut buffer = [0_u8; 4096];
        // The request's head and its short body arrive together or soon after.
        while !request.windows(4).any(|window| window == b"\r\n\r\n") {
            let read = socket.read(&mut buffer).await.unwrap();
            request.extend_from_slice(&buffer[..read]);
        }
        socket
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nabc")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(30)).await;
    });
    format!("http://{address}/hook")
}

#[tokio::test]
async fn a_partner_stalling_its_response_body_past_the_request_timeout_is_retryable() {
    let url = partner_stalling_its_body().await;
    let options = WebhookSettings {
        request_timeout: Duration::from_millis(300),
        ..WebhookSettings::new(url)
    };
    let channel = WebhookChannel::new(options).unwrap();

    let started = std::time::Instant::now();
    let error = channel.deliver(&delivery()).await.unwrap_err();

    assert!(
        matches!(&error, DeliveryError::Retryable { reason, .. } if reason.starts_with("request timed out")),
        "{error:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the deadline covers the body"
    );
}

#[tokio::test]
async fn a_partner_whose_certificate_is_not_trusted_is_a_retryable_connect_error() {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![certified.cert.der().clone()], key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let handshakes = Arc::new(Mutex::new(0_u32));
    let seen = Arc::clone(&handshakes);
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            *seen.lock().unwrap() += 1;
            // The client aborts the handshake; nothing is served.
            let _ = acceptor.accept(socket).await;
        }
    });
    let channel = WebhookChannel::new(WebhookSettings::new(format!(
        "https://localhost:{port}/hook"
    )))
    .unwrap();

    let error = channel.deliver(&delivery()).await.unwrap_err();

    assert!(
        matches!(&error, DeliveryError::Retryable { reason, .. }
            if reason.starts_with("connect error") && reason.contains("certificate")),
        "{error:?}"
    );
    assert!(*handshakes.lock().unwrap() >= 1, "TLS was attempted");
}

#[tokio::test]
async fn a_tls_handshake_that_never_ends_is_bounded_by_the_connect_timeout() {
    // Accepts TCP connections and never answers the TLS client hello.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let options = WebhookSettings {
        connect_timeout: Duration::from_millis(300),
        request_timeout: Duration::from_secs(30),
        ..WebhookSettings::new(format!("https://localhost:{port}/hook"))
    };
    let channel = WebhookChannel::new(options).unwrap();

    let started = std::time::Instant::now();
    let error = channel.deliver(&delivery()).await.unwrap_err();

    assert!(
        matches!(&error, DeliveryError::Retryable { reason, .. }
            if reason.starts_with("connect error") && reason.contains("TLS handshake")),
        "{error:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the handshake counts against the connect timeout, not the request's 30 s"
    );
}
