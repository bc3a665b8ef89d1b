//! `fdwatch relay`'s events as text lines (conn, direction, what happened).

use std::io::{self, Write};

use owo_colors::Style;

use super::Text;
use crate::timeout::seconds;

impl<W: Write> Text<W> {
    /// `conn 3   client → target  data 4 bytes "hell"`
    // Longer than 80 lines on purpose: one match arm per event kind, a few lines each,
    // so the whole format of every line is in one place and the kinds compare at a glance.
    pub(super) fn relay(&mut self, r: &crate::event::Relay<'_>) -> io::Result<()> {
        use crate::event::{Relay as R, Side, Traffic};
        let arrow = |from: Side| match from {
            Side::Client => "client → target",
            Side::Target => "target → client",
        };
        let traffic = |t: &Traffic| {
            format!(
                "{} bytes client → target, {} target → client, urgent {}/{}",
                t.client_to_target,
                t.target_to_client,
                t.urgent_client_to_target,
                t.urgent_target_to_client
            )
        };
        let conn = |n: u64| format!("conn {n:<5} ");
        match r {
            R::Listen {
                what,
                target,
                all_interfaces,
            } => {
                write!(
                    self.out,
                    "{:9}relay {what} → {}",
                    "",
                    crate::escape::message(target)
                )?;
                if *all_interfaces {
                    self.styled(
                        " (all interfaces: reachable from the network)",
                        Style::new().yellow(),
                    )?;
                }
                Ok(())
            }
            R::Accept { conn: n, peer } => {
                write!(self.out, "{}accept from {peer}", conn(*n))
            }
            R::Connect {
                conn: n,
                target,
                addr,
                error,
            } => {
                write!(self.out, "{}", conn(*n))?;
                let addr = addr.map(|a| format!(" ({a})")).unwrap_or_default();
                match error {
                    None => write!(self.out, "connected to {target}{addr}"),
                    Some(e) => self.styled(
                        format_args!(
                            "connect to {target}{addr} failed: {} ({e:?}); client closed",
                            e.desc()
                        ),
                        Style::new().red(),
                    ),
                }
            }
            R::Data {
                conn: n,
                from,
                bytes,
                total,
                shown,
            } => {
                write!(self.out, "{}{}  ", conn(*n), arrow(*from))?;
                self.styled(format_args!("{bytes} bytes"), Style::new().green())?;
                write!(self.out, " (total {total})")?;
                self.shown(*shown)
            }
            R::Urgent {
                conn: n,
                from,
                byte,
                offset,
                replaced,
                relayed,
            } => {
                write!(self.out, "{}{}  ", conn(*n), arrow(*from))?;
                let how = if *relayed {
                    "sent with MSG_OOB"
                } else {
                    "not relayed: the connection ended first"
                };
                self.styled(
                    format_args!(
                        "urgent \"{}\" (0x{byte:02x}) at offset {offset}, {how}",
                        crate::escape::bytes(&[*byte])
                    ),
                    Style::new().magenta(),
                )?;
                if let Some(b) = replaced {
                    write!(
                        self.out,
                        "; it replaced \"{}\", never read",
                        crate::escape::bytes(&[*b])
                    )?;
                }
                Ok(())
            }
            R::HalfClose { conn: n, from } => write!(
                self.out,
                "{}{} half-close: SHUT_WR passed on to the {}",
                conn(*n),
                from.name(),
                from.other().name()
            ),
            R::Reset { conn: n, from } => {
                write!(self.out, "{}", conn(*n))?;
                self.styled(
                    format_args!(
                        "{} reset: the {} is closed with a reset too",
                        from.name(),
                        from.other().name()
                    ),
                    Style::new().yellow(),
                )
            }
            R::Error {
                conn: n,
                from,
                errno,
                message,
            } => {
                write!(self.out, "{}", conn(*n))?;
                let who = from.map_or(String::new(), |s| format!("{}: ", s.name()));
                let message = crate::escape::message(message);
                self.styled(
                    format_args!("{who}{message}: {} ({errno:?})", errno.desc()),
                    Style::new().red(),
                )
            }
            R::Close {
                conn: n,
                traffic: t,
                duration,
            } => write!(
                self.out,
                "{}closed after {}: {}",
                conn(*n),
                seconds(*duration),
                traffic(t)
            ),
            R::Summary {
                connections,
                traffic: t,
                elapsed,
                backend,
            } => {
                let backend = backend.map(|b| format!(" ({b})")).unwrap_or_default();
                write!(
                    self.out,
                    "{:9}{connections} connections in {}{backend}: {}",
                    "",
                    seconds(*elapsed),
                    traffic(t)
                )
            }
            R::Signal { name, pid, .. } => {
                write!(self.out, "{:9}", "")?;
                self.styled(
                    format_args!("signal {name} from pid {pid}: ending"),
                    Style::new().magenta(),
                )
            }
            R::Timeout { idle } => {
                write!(self.out, "{:9}", "")?;
                self.styled(
                    format_args!("idle for {}: ending", seconds(*idle)),
                    Style::new().yellow(),
                )
            }
            R::Exhausted(x) => {
                // The listener it happened to (the splice pipes name themselves).
                write!(self.out, "{:9}{}: ", "", x.what)?;
                self.exhausted(x)
            }
        }
    }
}
