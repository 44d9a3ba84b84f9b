//! The bridge's places for connections: at most 64 at once and 8 from one network address (programs on this
//! computer share only the total), so a flood cannot use up the computer's file handles. When the bridge is full, a
//! connection that has had its time and still not signed in gives its place up to a newcomer: connections that
//! never sign in cannot keep devices out, however many are opened again.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

/// Connections at once, in all and from one network address.
const MAX_CONNECTIONS: usize = 64;
const MAX_CONNECTIONS_PER_ADDRESS: usize = 8;
/// A connection not signed in this long gives its place up when the bridge is full.
const YIELDS_AFTER: Duration = Duration::from_secs(10);
/// How long a newcomer waits for a place given up for it.
const PLACE_WAIT: Duration = Duration::from_secs(2);

/// Every connection's place.
pub(super) struct Places {
    connections: Arc<Semaphore>,
    per_address: Mutex<HashMap<IpAddr, usize>>,
    /// Connections not signed in yet, oldest first, each with the way to let it go.
    unsigned: Mutex<BTreeMap<u64, (Instant, oneshot::Sender<()>)>>,
    next: AtomicU64,
    /// One newcomer at a time waits for a place to be given up; others are told to come back.
    making_room: Semaphore,
}

/// A connection's place, given back when it ends.
pub(super) struct Place {
    places: Arc<Places>,
    address: IpAddr,
    id: u64,
    _permit: OwnedSemaphorePermit,
}

impl Place {
    /// The connection signed in: it keeps its place.
    pub(super) fn signed_in(&self) {
        self.places
            .unsigned
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.id);
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        self.signed_in();
        let mut per_address = self
            .places
            .per_address
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(count) = per_address.get_mut(&self.address) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                per_address.remove(&self.address);
            }
        }
    }
}

impl Places {
    pub(super) fn new() -> Places {
        Places::with_room(MAX_CONNECTIONS)
    }

    fn with_room(connections: usize) -> Places {
        Places {
            connections: Arc::new(Semaphore::new(connections)),
            per_address: Mutex::new(HashMap::new()),
            unsigned: Mutex::new(BTreeMap::new()),
            next: AtomicU64::new(0),
            making_room: Semaphore::new(1),
        }
    }

    /// A place for a connection from `address`, with what tells it to go when a newcomer needs its place before
    /// it signed in; `None` when there is none (this address has as many as it may, or the bridge is full of
    /// connections that signed in or are new).
    pub(super) async fn admit(
        self: &Arc<Self>,
        address: IpAddr,
    ) -> Option<(Place, oneshot::Receiver<()>)> {
        self.admit_after(address, YIELDS_AFTER).await
    }

    async fn admit_after(
        self: &Arc<Self>,
        address: IpAddr,
        yields_after: Duration,
    ) -> Option<(Place, oneshot::Receiver<()>)> {
        let permit = match self.connections.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                let _turn = self.making_room.try_acquire().ok()?;
                let oldest = {
                    let mut unsigned = self.unsigned.lock().unwrap_or_else(|e| e.into_inner());
                    let id = unsigned
                        .iter()
                        .next()
                        .filter(|(_, (since, _))| since.elapsed() >= yields_after)
                        .map(|(id, _)| *id)?;
                    unsigned.remove(&id)
                };
                let (_, let_go) = oldest?;
                let _ = let_go.send(());
                tokio::time::timeout(PLACE_WAIT, self.connections.clone().acquire_owned())
                    .await
                    .ok()?
                    .ok()?
            }
        };
        {
            let mut per_address = self.per_address.lock().unwrap_or_else(|e| e.into_inner());
            let count = per_address.entry(address).or_default();
            if *count >= MAX_CONNECTIONS_PER_ADDRESS && !address.is_loopback() {
                return None;
            }
            *count += 1;
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (let_go, told) = oneshot::channel();
        self.unsigned
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, (Instant::now(), let_go));
        Some((
            Place {
                places: self.clone(),
                address,
                id,
                _permit: permit,
            },
            told,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_bridge_makes_room_only_from_connections_that_had_their_time_and_did_not_sign_in()
     {
        let places = Arc::new(Places::with_room(2));
        let here: IpAddr = "127.0.0.1".parse().unwrap();
        let (signed, _) = places.admit_after(here, Duration::ZERO).await.unwrap();
        signed.signed_in();
        let (idle, mut told) = places.admit_after(here, Duration::ZERO).await.unwrap();
        // Full: the idle one is let go for the newcomer; the signed-in one never.
        let newcomer = tokio::spawn({
            let places = places.clone();
            async move { places.admit_after(here, Duration::ZERO).await }
        });
        tokio::time::timeout(Duration::from_secs(1), &mut told)
            .await
            .expect("told to go")
            .unwrap();
        drop(idle);
        let (newcomer, _) = newcomer.await.unwrap().expect("a place made");
        newcomer.signed_in();
        assert!(
            places.admit_after(here, Duration::ZERO).await.is_none(),
            "full of signed-in connections: no room"
        );
        drop(signed);
        // Not yet had its time: kept.
        let places = Arc::new(Places::with_room(1));
        let (_young, _) = places.admit(here).await.unwrap();
        assert!(places.admit(here).await.is_none());
        // Eight from one network address at most.
        let places = Arc::new(Places::with_room(64));
        let lan: IpAddr = "192.168.1.20".parse().unwrap();
        let mut held = Vec::new();
        for _ in 0..MAX_CONNECTIONS_PER_ADDRESS {
            held.push(places.admit(lan).await.unwrap());
        }
        assert!(places.admit(lan).await.is_none());
        assert!(
            places
                .admit("192.168.1.21".parse().unwrap())
                .await
                .is_some()
        );
    }
}
