//! The fields several JSON event kinds share: (name, meaning), for kinds.rs.

pub(super) const FD: (&str, &str) = ("fd", "the fd number (null: none)");
pub(super) const WHAT: (&str, &str) = (
    "what",
    "what the fd is (pipe:[INO], fifo PATH, a socket's addresses...), escaped as in NAMES AND TEXT",
);
pub(super) const FROM: (&str, &str) = ("from", "the side the bytes came from: client or target");
pub(super) const BYTES: (&str, &str) = ("bytes", "bytes in this event");
pub(super) const TEXT: (&str, &str) = (
    "text",
    "--read=text and --peek: the bytes as a string (JSON's own escapes only); each byte of invalid UTF-8 is U+FFFD",
);
pub(super) const DATA_HEX: (&str, &str) = (
    "data_hex",
    "only when text is not exact (invalid UTF-8): the bytes in hex, two digits each",
);
pub(super) const HEX_ROWS: (&str, &str) = (
    "hex",
    "--read=hex: offset, hex and ASCII rows of 16 bytes, as hexdump -C",
);
pub(super) const BYTE: (&str, &str) = (
    "byte",
    "the urgent byte as a one-character string (U+FFFD above 0x7f: see hex)",
);
pub(super) const BYTE_HEX: (&str, &str) = ("hex", "the urgent byte in hex, two digits");
pub(super) const OFFSET: (&str, &str) = ("offset", "normal bytes before the urgent mark");
pub(super) const REPLACED: (&str, &str) = (
    "replaced",
    "an earlier urgent byte, never read, that this one replaced (TCP keeps one urgent pointer), or null",
);
pub(super) const REPLACED_HEX: (&str, &str) = ("replaced_hex", "that byte in hex, or null");
pub(super) const ERRNO: (&str, &str) = ("errno", "the errno name: EAGAIN, ECONNREFUSED...");
pub(super) const MESSAGE: (&str, &str) = ("message", "what failed, in words");
pub(super) const TARGET: (&str, &str) = ("target", "the target as the user wrote it");
pub(super) const ADDR: (&str, &str) = ("addr", "the address the connect tried");
pub(super) const RESULT: (&str, &str) = ("result", "ok, or the errno name (SO_ERROR)");
pub(super) const SIGNAL: [(&str, &str); 3] = [
    ("name", "the signal's name: SIGINT"),
    ("number", "its number"),
    ("pid", "the sender's pid, when known (else null)"),
];
pub(super) const TRAFFIC: [(&str, &str); 4] = [
    (
        "client_to_target",
        "bytes relayed from the client to the target",
    ),
    (
        "target_to_client",
        "bytes relayed from the target to the client",
    ),
    (
        "urgent_client_to_target",
        "urgent bytes relayed client to target",
    ),
    (
        "urgent_target_to_client",
        "urgent bytes relayed target to client",
    ),
];
pub(super) const EXHAUSTED: [(&str, &str); 7] = [
    FD,
    WHAT,
    (
        "call",
        "the call that ran out: accept, socket, connect, open, pipe2",
    ),
    ERRNO,
    (
        "refused",
        "at the end: clients accepted and closed at once because they could not be served",
    ),
    ("duration", "at the end: seconds the episode lasted"),
    (
        "state",
        "start (the first failure) or end (the call works again, or the run ends)",
    ),
];
