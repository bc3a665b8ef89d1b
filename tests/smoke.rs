mod common;
use common::*;
use std::os::fd::AsFd;

#[test]
fn pipe_with_data_is_readable_on_every_backend() {
    for b in BACKENDS {
        let (r, w) = pipe();
        write(&w, b"hello");
        let out = Fdwatch::new(["-b", b, "--format", "json", "0", "3r"])
            .fd(r.as_fd(), 3)
            .run();
        assert_eq!(code(&out), 0, "{b}: {}", stderr(&out));
        let evs = events(&out.stdout);
        assert_eq!(ready_words(&evs, 3), Some(vec!["read".to_owned()]), "{b}");
        assert_eq!(of_kind(&evs, "ready")[0]["queued"], 5);
        assert_eq!(fionread(&r), 5, "{b}: fdwatch consumed data");
    }
}
