//! tokio-echo - the echo server as tokio's users write it, on tokio's
//! current_thread runtime (one thread, like urt-echo and epoll-echo): a task
//! per connection, a 16 KiB buffer each, read then write_all. It exists to be
//! measured next to urt-echo under the same urt-load runs
//! (scripts/echo-bench.sh grid).
//!
//!   tokio-echo [--addr A] [--port P]
//!
//! Prints 'listening on ADDR:PORT' once ready. SIGUSR1 prints a stats line;
//! SIGINT/SIGTERM print it and exit 0 (connections are closed by exit, as
//! epoll-echo does).

use std::cell::Cell;
use std::io::Write;
use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::signal::unix::{signal, SignalKind};

const BUF: usize = 16384;

// One thread: plain cells, no atomics on the per-message path.
thread_local! {
    static NCONNS: Cell<u64> = Cell::new(0);
    static NLIVE: Cell<u64> = Cell::new(0);
    static NREADS: Cell<u64> = Cell::new(0);
    static NBYTES: Cell<u64> = Cell::new(0);
}

fn add(c: &'static std::thread::LocalKey<Cell<u64>>, v: u64) {
    c.with(|x| x.set(x.get().wrapping_add(v)));
}

fn stats(what: &str) {
    let g = |c: &'static std::thread::LocalKey<Cell<u64>>| c.with(|x| x.get());
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "{}: connections {} live {} requests {} bytes {}",
        what,
        g(&NCONNS),
        g(&NLIVE),
        g(&NREADS),
        g(&NBYTES)
    );
    let _ = out.flush();
}

async fn serve(mut s: TcpStream) {
    let mut buf = vec![0u8; BUF];
    loop {
        let n = match s.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        add(&NREADS, 1);
        add(&NBYTES, n as u64);
        if s.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    add(&NLIVE, u64::MAX); // -1
}

fn usage(code: i32) -> ! {
    let text = "usage: tokio-echo [--addr A] [--port P]\n  \
--addr A   IPv4 address to bind (default 127.0.0.1)\n  \
--port P   port (default 7001; 0 picks a free one)\n\
A tokio (current_thread) echo server: a peer of urt-echo in the echo grid.\n\
SIGUSR1 prints stats; SIGINT/SIGTERM stop it.\n";
    if code == 0 {
        print!("{}", text);
    } else {
        eprint!("{}", text);
    }
    std::process::exit(code);
}

fn main() {
    let mut addr = String::from("127.0.0.1");
    let mut port: u16 = 7001;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--addr" => addr = args.next().unwrap_or_else(|| usage(2)),
            "--port" => {
                port = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| usage(2))
            }
            "--help" | "-h" => usage(0),
            _ => usage(2),
        }
    }
    let sa: SocketAddr = format!("{}:{}", addr, port)
        .parse()
        .unwrap_or_else(|_| usage(2));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .expect("tokio-echo: runtime");
    rt.block_on(async move {
        let l = match TcpListener::bind(sa).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("tokio-echo: listen on {}: {}", sa, e);
                std::process::exit(1);
            }
        };
        let mut usr1 = signal(SignalKind::user_defined1()).expect("tokio-echo: SIGUSR1");
        for kind in [SignalKind::terminate(), SignalKind::interrupt()] {
            let mut stop = signal(kind).expect("tokio-echo: SIGTERM/SIGINT");
            tokio::spawn(async move {
                stop.recv().await;
                stats("final");
                std::process::exit(0);
            });
        }
        tokio::spawn(async move {
            while usr1.recv().await.is_some() {
                stats("stats");
            }
        });
        let local = l.local_addr().expect("tokio-echo: local address");
        println!("listening on {}:{}", local.ip(), local.port());
        let _ = std::io::stdout().flush();
        loop {
            // an error (EMFILE, a reset before accept) drops that one: go on
            if let Ok((s, _)) = l.accept().await {
                let _ = s.set_nodelay(true); // as every server of the grid
                add(&NCONNS, 1);
                add(&NLIVE, 1);
                tokio::spawn(serve(s));
            }
        }
    });
}
