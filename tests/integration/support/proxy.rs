//! A TCP proxy on 127.0.0.1 that holds every chunk for a set delay in each direction: a slow network for the
//! benchmarks (round trips = time / RTT). The integration tests compile the support folder too without using it.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Forwards `127.0.0.1:<returned port>` to `upstream`, holding every chunk for `delay` in each direction.
pub async fn delaying_proxy(upstream: u16, delay: Duration) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let _ = client.set_nodelay(true);
            tokio::spawn(async move {
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await else {
                    return;
                };
                let _ = server.set_nodelay(true);
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                tokio::join!(
                    pump(client_read, server_write, delay),
                    pump(server_read, client_write, delay)
                );
            });
        }
    });
    port
}

/// Chunks a direction may hold in flight: like a TCP window (about 1 MiB), so a large message is not held whole.
const CHUNKS_IN_FLIGHT: usize = 16;

/// Copies one direction, each chunk delivered `delay` after it arrived, in order.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delay: Duration,
) {
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<(Instant, Vec<u8>)>(CHUNKS_IN_FLIGHT);
    let writer = tokio::spawn(async move {
        while let Some((due, chunk)) = receiver.recv().await {
            tokio::time::sleep_until(due.into()).await;
            if to.write_all(&chunk).await.is_err() {
                break;
            }
        }
        let _ = to.shutdown().await;
    });
    let mut buffer = vec![0; 64 * 1024];
    while let Ok(read) = from.read(&mut buffer).await {
        if read == 0
            || sender
                .send((Instant::now() + delay, buffer[..read].to_vec()))
                .await
                .is_err()
        {
            break;
        }
    }
    drop(sender);
    let _ = writer.await;
}
