//! Proxies as Go's net/http uses them (ko's behaviour), through a real
//! forward proxy (squid, tests/util/squid.rs): `HTTPS_PROXY` carries
//! https:// registries in a CONNECT tunnel, `HTTP_PROXY` carries http://
//! ones as absolute-form requests; `NO_PROXY` names hosts by domain,
//! suffix and port; loopback is never proxied; a dead or refusing proxy is
//! named in the error. The registry answers as `registry.test`, a name
//! squid resolves from its own hosts file and rko only where a test maps it
//! (tests/util/hosts.rs): a request that went direct by mistake fails to
//! resolve.

use crate::util::hostile::docker_config_with;
use crate::util::hosts::{hosts_file, with_hosts};
use crate::util::registry::{free_port, Auth, Registry, PASSWORD, USER};
use crate::util::squid::{Logged, Squid, BLOCKED};
use crate::util::*;
use std::path::Path;
use std::process::Command;

const NAME: &str = "registry.test";

/// `rko ARGS` with its own Docker config and these proxy variables.
fn rko_with(config: &Path, proxies: &[(&str, &str)], args: &[&str]) -> Command {
    let mut cmd = rko_in(config);
    cmd.args(args);
    for (name, value) in proxies {
        cmd.env(name, value);
    }
    cmd
}

fn tunnels(log: &[Logged]) -> Vec<&Logged> {
    log.iter().filter(|l| l.method == "CONNECT").collect()
}

// Go: net/http Transport.connectMethodForRequest (an https:// target is
// tunnelled with CONNECT) and golang.org/x/net/http/httpproxy (HTTPS_PROXY
// is for https:// requests only, HTTP_PROXY for http:// ones).
#[test]
fn https_proxy_carries_https_registries_through_connect_and_http_proxy_does_not() {
    let registry = Registry::start_named(Auth::BasicTls, &[NAME]);
    let squid = Squid::start(&[NAME]);
    let dir = temp_dir();
    let ca = registry.ca.clone().unwrap();
    let host = format!("{NAME}:{}", registry.port);
    let config = dir.path().join("docker");
    docker_config_with(&config, &host, USER, PASSWORD);
    let image = hello_image(dir.path(), "amd64");
    let reference = format!("{host}/app:v1");
    let dead = format!("http://127.0.0.1:{}", free_port());
    let (image_arg, ca_arg) = (image.display().to_string(), ca.display().to_string());
    let push = ["push", &image_arg, &reference, "--ca-cert", &ca_arg];

    let via_squid = [("HTTPS_PROXY", squid.url()), ("HTTP_PROXY", dead.clone())];
    let via_squid: Vec<(&str, &str)> = via_squid.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let pushed = run_ok(&mut rko_with(&config, &via_squid, &push));
    assert_eq!(pushed_digest(&pushed), layout_digest(&image));
    let out = dir.path().join("pulled");
    let out_arg = out.display().to_string();
    run_ok(&mut rko_with(
        &config,
        &via_squid,
        &["pull", &reference, "--ca-cert", &ca_arg, "--out", &out_arg],
    ));
    assert_eq!(layout_digest(&out), layout_digest(&image));
    let log = squid.settled_log();
    assert!(!log.is_empty());
    assert!(
        log.iter()
            .all(|l| l.method == "CONNECT" && l.url == host && l.result.ends_with("/200")),
        "{log:#?}"
    );

    // HTTP_PROXY alone is for http:// only: rko goes direct, where the
    // name does not resolve, and the proxy sees nothing.
    let err = run_err(&mut rko_with(
        &config,
        &[("HTTP_PROXY", &squid.url()), ("http_proxy", &squid.url())],
        &push,
    ));
    assert!(err.contains("cannot be resolved"), "{err}");
    assert_eq!(squid.settled_log(), log);
}

// Go: net/http Transport.connectMethodForRequest and persistConn.roundTrip
// (an http:// target through an http proxy: the request line carries the
// absolute URL, no tunnel).
#[test]
fn http_proxy_carries_plain_http_registries_as_absolute_form_requests() {
    let registry = Registry::start(Auth::None);
    let squid = Squid::start(&[NAME]);
    let dir = temp_dir();
    let config = dir.path().join("docker");
    let image = big_image(dir.path());
    let host = format!("{NAME}:{}", registry.port);
    let reference = format!("{host}/app:v1");
    let image_arg = image.display().to_string();
    let proxies = [("HTTP_PROXY", squid.url())];
    let proxies: Vec<(&str, &str)> = proxies.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let insecure = format!("--insecure-registry={host}");

    let pushed = run_ok(&mut rko_with(
        &config,
        &proxies,
        &["push", &image_arg, &reference, &insecure],
    ));
    assert_eq!(pushed_digest(&pushed), layout_digest(&image));
    let out = dir.path().join("pulled");
    let out_arg = out.display().to_string();
    run_ok(&mut rko_with(
        &config,
        &proxies,
        &["pull", &reference, &insecure, "--out", &out_arg],
    ));
    assert_eq!(layout_digest(&out), layout_digest(&image));

    let log = squid.settled_log();
    assert_eq!(tunnels(&log), Vec::<&Logged>::new());
    let prefix = format!("http://{host}/v2/");
    assert!(log.iter().all(|l| l.url.starts_with(&prefix)), "{log:#?}");
    for method in ["GET", "HEAD", "POST", "PUT"] {
        assert!(
            log.iter().any(|l| l.method == method),
            "no {method} went through the proxy: {log:#?}"
        );
    }
}

// Go: golang.org/x/net/http/httpproxy config.useProxy ("localhost" and
// loopback addresses are never proxied, whatever NO_PROXY says).
#[test]
fn loopback_registries_are_never_proxied() {
    let registry = Registry::start(Auth::None);
    let squid = Squid::start(&[]);
    let dir = temp_dir();
    let config = dir.path().join("docker");
    let image = hello_image(dir.path(), "amd64");
    let image_arg = image.display().to_string();
    let url = squid.url();
    let proxies: Vec<(&str, &str)> = PROXY_VARIABLES[..4]
        .iter()
        .map(|n| (*n, url.as_str()))
        .collect();
    for host in [
        format!("127.0.0.1:{}", registry.port),
        format!("localhost:{}", registry.port),
    ] {
        let reference = format!("{host}/app:v1");
        let pushed = run_ok(&mut rko_with(
            &config,
            &proxies,
            &["push", &image_arg, &reference],
        ));
        assert_eq!(pushed_digest(&pushed), layout_digest(&image));
    }
    assert_eq!(squid.settled_log(), Vec::<Logged>::new());
}

// Go: golang.org/x/net/http/httpproxy config.init (entries trimmed,
// `example.com` also matches its subdomains, `.example.com` and
// `*.example.com` only them, `host:port` that port only, `*` everything).
#[test]
fn no_proxy_names_hosts_by_domain_suffix_and_port_with_spaces_after_commas() {
    let registry = Registry::start(Auth::None);
    let squid = Squid::start(&[NAME]);
    let dir = temp_dir();
    let hosts = hosts_file(dir.path(), &[NAME]);
    let config = dir.path().join("docker");
    let image = hello_image(dir.path(), "amd64");
    let image_arg = image.display().to_string();
    let host = format!("{NAME}:{}", registry.port);
    let insecure = format!("--insecure-registry={host}");
    let url = squid.url();
    let mut seen = 0;
    for (no_proxy, proxied) in [
        ("other.example, .test", false),
        ("other.example,  registry.test ", false),
        ("*.test", false),
        (&*format!("{NAME}:{}", registry.port), false),
        ("*", false),
        ("test", false),
        ("", true),
        ("registry.test:1", true),
        ("other.test, .registry.test", true),
        ("gistry.test", true),
    ] {
        let reference = format!("{host}/app:v1");
        let push = rko_with(
            &config,
            &[("HTTP_PROXY", &url), ("NO_PROXY", no_proxy)],
            &["push", &image_arg, &reference, &insecure],
        );
        let pushed = run_ok(&mut with_hosts(&push, &hosts));
        assert_eq!(pushed_digest(&pushed), layout_digest(&image));
        let log = squid.settled_log();
        assert_eq!(
            log.len() > seen,
            proxied,
            "NO_PROXY={no_proxy:?}: {:#?}",
            &log[seen..]
        );
        seen = log.len();
    }
}

// Go: net/http Transport (the user and password of a proxy URL go in
// Proxy-Authorization, on CONNECT and on absolute-form requests alike; an
// https:// proxy is spoken to over TLS).
#[test]
fn a_proxy_that_wants_credentials_gets_those_of_its_url_over_http_and_tls() {
    let (user, password) = ("proxy-user", "p@ss w0rd");
    let registry = Registry::start_named(Auth::BasicTls, &[NAME]);
    let plain = Registry::start(Auth::None);
    let squid = Squid::start_guarded(&[NAME], user, password);
    let (tls_port, proxy_ca) = squid.tls.clone().unwrap();
    let dir = temp_dir();
    let host = format!("{NAME}:{}", registry.port);
    let config = dir.path().join("docker");
    docker_config_with(&config, &host, USER, PASSWORD);
    let image = hello_image(dir.path(), "amd64");
    let image_arg = image.display().to_string();
    let ca = registry.ca.clone().unwrap().display().to_string();
    let proxy_ca = proxy_ca.display().to_string();
    let userinfo = "proxy-user:p%40ss%20w0rd";
    let push_tls = |tag: &str, proxy: &str| {
        rko_with(
            &config,
            &[("HTTPS_PROXY", proxy)],
            &[
                "push",
                &image_arg,
                &format!("{host}/app:{tag}"),
                "--ca-cert",
                &ca,
                "--ca-cert",
                &proxy_ca,
            ],
        )
    };

    let err = run_err(&mut push_tls("v1", &squid.url()));
    assert!(
        err.contains(&format!("proxy {}", squid.url())) && err.contains("407"),
        "{err}"
    );
    let over_http = format!("http://{userinfo}@{}", squid.host());
    run_ok(&mut push_tls("v1", &over_http));
    let over_tls = format!("https://{userinfo}@127.0.0.1:{tls_port}");
    run_ok(&mut push_tls("v2", &over_tls));
    let plain_host = format!("{NAME}:{}", plain.port);
    let (out, err) = run_ok_with_stderr(&mut rko_with(
        &config,
        &[("HTTP_PROXY", &over_http)],
        &[
            "push",
            &image_arg,
            &format!("{plain_host}/app:v1"),
            &format!("--insecure-registry={plain_host}"),
        ],
    ));
    assert_eq!(pushed_digest(&out), layout_digest(&image));
    assert!(!err.contains("w0rd"), "{err}");

    let log = squid.settled_log();
    let admitted: Vec<&Logged> = log.iter().filter(|l| l.user != "-").collect();
    assert!(admitted.iter().all(|l| l.user == user), "{log:#?}");
    assert!(admitted.iter().any(|l| l.method == "CONNECT"), "{log:#?}");
    assert!(admitted.iter().any(|l| l.method == "PUT"), "{log:#?}");
    assert!(log.iter().any(|l| l.result == "TCP_DENIED/407"), "{log:#?}");
}

/// A small image with a 2 MiB layer: its upload is many writes after the
/// request head the proxy connection rewrites. (Not bigger: this squid,
/// on this machine, drops some request bodies over about 5 MiB, from curl
/// as from rko, while the registry alone takes them.)
fn big_image(dir: &Path) -> std::path::PathBuf {
    image_with_file(dir, "big", &noise(21, 2 << 20), "/data/big.bin")
}

// Go: net/http Transport.dialConn wraps a proxy's failure as "proxyconnect
// tcp: …"; rko names the proxy and the variable that chose it.
#[test]
fn a_dead_or_refusing_proxy_is_named_in_the_error() {
    let squid = Squid::start(&[NAME]);
    let dir = temp_dir();
    let config = dir.path().join("docker");
    let out = dir.path().join("out").display().to_string();
    let dead = format!("http://127.0.0.1:{}", free_port());

    let err = run_err(&mut rko_with(
        &config,
        &[("HTTPS_PROXY", &dead)],
        &["pull", &format!("{NAME}:5000/app:v1"), "--out", &out],
    ));
    assert!(
        err.contains(&format!("proxy {dead}")) && err.contains("HTTPS_PROXY"),
        "{err}"
    );
    assert!(!err.contains("cannot be resolved"), "{err}");

    // Refused: a CONNECT answered 403, then a plain-HTTP request answered 403.
    let blocked = format!("{BLOCKED}:5000");
    let err = run_err(&mut rko_with(
        &config,
        &[("HTTPS_PROXY", &squid.url())],
        &["pull", &format!("{blocked}/app:v1"), "--out", &out],
    ));
    assert!(
        err.contains(&format!("proxy {}", squid.url())) && err.contains("403"),
        "{err}"
    );
    let err = run_err(&mut rko_with(
        &config,
        &[("HTTP_PROXY", &squid.url())],
        &[
            "pull",
            &format!("{blocked}/app:v1"),
            &format!("--insecure-registry={blocked}"),
            "--out",
            &out,
        ],
    ));
    assert!(
        err.contains(&format!("proxy {}", squid.url())) && err.contains("403"),
        "{err}"
    );
    assert!(!Path::new(&out).exists());
}
