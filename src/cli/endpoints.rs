//! The addresses `relay` (LISTEN, TARGET) and `send` (ADDRESS) take: parsed, and
//! TARGET's host resolved, before anything is opened.

use crate::escape;
use crate::net;
use crate::relay;
use crate::spec::{self, Interest, SocketSpec, Target};

/// LISTEN and TARGET: a listener, and an address to connect to with its host resolved
/// once, now: a name that does not resolve is refused before the relay starts.
pub(super) fn relay(listen: &str, target: &str) -> Result<(SocketSpec, relay::TargetAddr), String> {
    let listen_spec = relay_word(listen, "LISTEN")?;
    let target_spec = relay_word(target, "TARGET")?;
    if !listen_spec.is_listener() {
        return Err(format!(
            "relay LISTEN '{}': expected tcp-listen:[HOST:]PORT or unix-listen:PATH",
            escape::message(listen)
        ));
    }
    if target_spec.is_listener() {
        return Err(format!(
            "relay TARGET '{}': expected tcp:HOST:PORT or unix:PATH",
            escape::message(target)
        ));
    }
    let connect_to = match &target_spec {
        SocketSpec::Tcp { host, port } => {
            let addrs =
                net::resolve(host, *port).map_err(|m| format!("relay TARGET '{target}': {m}"))?;
            SocketSpec::Tcp {
                host: addrs[0].ip().to_string(),
                port: *port,
            }
        }
        other => other.clone(),
    };
    Ok((
        listen_spec,
        relay::TargetAddr {
            spec: target_spec,
            connect_to,
        },
    ))
}

/// LISTEN or TARGET (`what`) as a socket spec.
fn relay_word(arg: &str, what: &str) -> Result<SocketSpec, String> {
    let socket_like = ["tcp:", "tcp-listen:", "unix:", "unix-listen:"]
        .iter()
        .any(|p| arg.starts_with(p));
    // `127.0.0.1:80` would read as an fd spec: say what is expected instead.
    let parsed = if socket_like {
        spec::parse(arg.as_ref())
    } else {
        Ok(spec::Spec {
            target: Target::Fd(0),
            interest: Interest::READ,
        })
    };
    match parsed {
        Ok(spec::Spec {
            target: Target::Socket(s),
            ..
        }) => Ok(s),
        Ok(_) => Err(format!(
            "relay {what} '{}': expected {}",
            escape::message(arg),
            if what == "LISTEN" {
                "tcp-listen:[HOST:]PORT or unix-listen:PATH"
            } else {
                "tcp:HOST:PORT or unix:PATH"
            }
        )),
        Err(e) => Err(format!("relay {what}: {e}")),
    }
}

/// `send`'s ADDRESS: tcp:HOST:PORT or unix:PATH, nothing else.
pub fn send_address(address: &str) -> Result<SocketSpec, String> {
    match spec::parse(address.as_ref()) {
        Ok(spec::Spec {
            target: Target::Socket(s),
            ..
        }) if matches!(s, SocketSpec::Tcp { .. } | SocketSpec::Unix(_)) => Ok(s),
        Err(e) if address.starts_with("tcp:") || address.starts_with("unix:") => {
            Err(format!("send: {e}"))
        }
        _ => Err(format!(
            "send: address '{}': expected tcp:HOST:PORT or unix:PATH",
            escape::message(address)
        )),
    }
}
