//! https against a local server with a self-signed certificate made at test time.

mod support;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use support::{TempDir, cannon, run};

/// Serves `hello` over TLS on 127.0.0.1 with a certificate for `localhost`; returns its
/// port and the certificate in PEM. With `client_ca`, clients must present a certificate
/// that CA signed.
fn start_tls_server() -> (u16, String) {
    start_tls_server_with(None)
}

fn start_tls_server_with(client_ca: Option<CertificateDer<'static>>) -> (u16, String) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let pem = certified.cert.pem();
    let chain = vec![CertificateDer::from(certified.cert.der().to_vec())];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = match client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(ca).unwrap();
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .unwrap();
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(chain, key).unwrap();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = std::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            while let Ok((stream, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    let service = service_fn(|_request| async {
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                            Bytes::from_static(b"hello"),
                        )))
                    });
                    // HTTP/1.1 or HTTP/2, as ALPN settled.
                    let _ = hyper_util::server::conn::auto::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    )
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
                });
            }
        });
    });
    (port, pem)
}

#[test]
fn a_self_signed_server_is_refused_by_default_and_trusted_with_cacert() {
    let (port, pem) = start_tls_server();
    let dir = TempDir::new("tls");
    let cert = dir.write("server.pem", &pem);
    // `localhost` goes through name resolution and SNI; the certificate is for that name.
    let url = format!("https://localhost:{port}/hello");

    let untrusted = run(&dir, &[url.as_str(), "-n", "3"]);
    assert_eq!(untrusted.code, Some(1), "nothing worked");
    assert!(
        untrusted.stderr.contains("--cacert FILE"),
        "the hint: {}",
        untrusted.stderr
    );
    assert_eq!(
        untrusted.json()["endpoints"][0]["error_kinds"]["tls"],
        3,
        "{}",
        untrusted.json()
    );
    let why = untrusted.json()["endpoints"][0]["error_details"]["tls"].clone();
    assert!(
        why.as_str().is_some_and(|w| w.contains("UnknownIssuer")),
        "{why}"
    );

    let trusted = run(
        &dir,
        &[
            url.as_str(),
            "-n",
            "3",
            "-c",
            "2",
            "--cacert",
            cert.to_str().unwrap(),
        ],
    );
    let e = &trusted.json()["endpoints"][0];
    assert_eq!(e["ok"], 6, "{e}");
    assert_eq!(e["http_version"], "HTTP/1.1");
    assert_eq!(e["tls_version"], "TLSv1.3");
    // --http2 offers h2 over ALPN; this server takes it.
    let h2 = run(
        &dir,
        &[
            url.as_str(),
            "-n",
            "2",
            "--http2",
            "--cacert",
            cert.to_str().unwrap(),
        ],
    );
    assert_eq!(h2.json()["endpoints"][0]["ok"], 2, "{}", h2.stderr);
    assert_eq!(h2.json()["endpoints"][0]["http_version"], "HTTP/2");
    assert_eq!(trusted.json()["run"]["insecure"], false);
    // Each lane paid for name resolution, TCP and TLS once, then reused its connection.
    assert_eq!(e["new_connections"], 2);
    for phase in ["dns_ms", "connect_ms", "tls_ms"] {
        assert!(e[phase]["max"].as_f64().is_some(), "{phase}: {e}");
    }
    assert_eq!(e["name"], format!("localhost:{port}/hello"));
}

#[test]
fn a_bad_cacert_file_is_a_config_error() {
    let dir = TempDir::new("badca");
    let not_pem = dir.write("junk.pem", "not a certificate\n");
    let run = run(
        &dir,
        &[
            "https://localhost:9/",
            "--cacert",
            not_pem.to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(
        run.stderr.contains("--cacert") && run.stderr.contains("junk.pem"),
        "{}",
        run.stderr
    );
    assert!(run.results.is_none());
}

#[test]
fn mutual_tls_needs_the_client_certificate() {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let client_key = rcgen::KeyPair::generate().unwrap();
    let mut client_params = rcgen::CertificateParams::new(vec!["client.test".to_owned()]).unwrap();
    client_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let client_cert = client_params.signed_by(&client_key, &ca).unwrap();

    let (port, server_pem) = start_tls_server_with(Some(ca.der().clone()));
    let dir = TempDir::new("mtls");
    let server_ca = dir.write("server.pem", &server_pem);
    let cert = dir.write("client.pem", &client_cert.pem());
    let key = dir.write("client.key", &client_key.serialize_pem());
    let url = format!("https://localhost:{port}/hello");
    let trust = ["--cacert", server_ca.to_str().unwrap()];

    let without = run(&dir, &[&[url.as_str(), "-n", "2"][..], &trust].concat());
    assert_eq!(
        without.json()["endpoints"][0]["error_kinds"]["tls"],
        2,
        "{}",
        without.json()["endpoints"][0]
    );

    let with = run(
        &dir,
        &[
            &[
                url.as_str(),
                "-n",
                "2",
                "--cert",
                cert.to_str().unwrap(),
                "--key",
                key.to_str().unwrap(),
            ][..],
            &trust,
        ]
        .concat(),
    );
    assert_eq!(with.json()["endpoints"][0]["ok"], 2, "{}", with.stderr);

    let wrong_key = dir.write("wrong.key", "not a key");
    let bad = run(
        &dir,
        &[
            url.as_str(),
            "--cert",
            cert.to_str().unwrap(),
            "--key",
            wrong_key.to_str().unwrap(),
        ],
    );
    assert_eq!(bad.code, Some(2));
    assert!(
        bad.stderr.contains("--key") && bad.stderr.contains("wrong.key"),
        "{}",
        bad.stderr
    );
}

#[test]
fn https_goes_through_a_proxy_by_connect() {
    let (port, pem) = start_tls_server();
    let proxy = support::ProxyServer::start();
    let dir = TempDir::new("tls-proxy");
    let cert = dir.write("server.pem", &pem);
    let url = format!("https://localhost:{port}/hello");
    let out = dir.join("results.json");
    let output = support::cannon()
        .args([
            "run",
            url.as_str(),
            "-n",
            "2",
            "-c",
            "2",
            "--use-env-proxy",
            "-q",
            "--cacert",
        ])
        .arg(&cert)
        .arg("-o")
        .arg(&out)
        .env("HTTPS_PROXY", proxy.url())
        .output()
        .unwrap();
    let run = support::finish(output, &out);
    assert_eq!(run.json()["endpoints"][0]["ok"], 4, "{}", run.stderr);
    assert_eq!(
        proxy.tunnels.load(std::sync::atomic::Ordering::Relaxed),
        2,
        "a tunnel per lane"
    );
}

/// The README's TLS walkthrough: `demo --serve --tls` writes its certificate; a run trusts
/// it only with `--cacert`, and then speaks HTTP/2 over TLS 1.3.
#[test]
fn the_demo_api_serves_tls_with_a_certificate_to_trust() {
    use std::io::BufRead;
    let dir = TempDir::new("demo-tls");
    let cert = dir.join("demo-cert.pem");
    let mut server = cannon()
        .args(["demo", "--serve", "--tls", "--port", "0", "--cert-out"])
        .arg(&cert)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = std::io::BufReader::new(server.stderr.take().unwrap());
    let base = stderr
        .lines()
        .map_while(Result::ok)
        .find_map(|line| {
            let at = line.find("serving on ")? + "serving on ".len();
            Some(line[at..].split_whitespace().next()?.to_owned())
        })
        .expect("the server says where it listens");
    assert!(base.starts_with("https://127.0.0.1:"), "{base}");
    let url = format!("{base}/hello");
    let untrusted = run(&dir, &[url.as_str(), "-n", "3", "-q"]);
    assert_eq!(untrusted.json()["endpoints"][0]["error_kinds"]["tls"], 3);
    let trusted = run(
        &dir,
        &[
            url.as_str(),
            "--cacert",
            cert.to_str().unwrap(),
            "--http2",
            "-n",
            "20",
            "-c",
            "2",
            "-q",
        ],
    );
    let _ = server.kill();
    let _ = server.wait();
    let e = &trusted.json()["endpoints"][0];
    assert_eq!(e["ok"], 40, "{}", trusted.stderr);
    assert_eq!(
        (e["http_version"].as_str(), e["tls_version"].as_str()),
        (Some("HTTP/2"), Some("TLSv1.3"))
    );
}

/// An http:// target marked insecure that redirects to a self-signed https server: the
/// hop must not verify either (it used to fail every request as `tls`).
#[test]
fn insecure_holds_across_a_redirect_from_http_to_https() {
    let plain = support::demo();
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    let (tls, _pem) = api_cannon::demo::DemoServer::start_tls(addr, 1).unwrap();
    let dir = TempDir::new("insecure-redirect");
    let url = format!(
        "{}/redirect-to-https/{}",
        plain.base_url(),
        tls.addr().port()
    );
    let args = |extra: &[&'static str]| {
        let mut all = vec![url.clone(), "--follow-redirects".into(), "1".into()];
        all.extend(["-n", "3", "-q"].iter().chain(extra).map(|s| s.to_string()));
        all
    };
    let strict = args(&[]);
    let strict: Vec<&str> = strict.iter().map(String::as_str).collect();
    assert_eq!(
        run(&dir, &strict).json()["endpoints"][0]["error_kinds"]["tls"],
        3
    );
    let lax = args(&["--insecure"]);
    let lax: Vec<&str> = lax.iter().map(String::as_str).collect();
    let lax = run(&dir, &lax);
    assert_eq!(lax.json()["endpoints"][0]["ok"], 3, "{}", lax.stderr);
    assert_eq!(lax.json()["endpoints"][0]["status"]["200"], 3);
}
