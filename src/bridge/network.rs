//! This computer as devices on its network see it: its name and its IPv4 addresses on private networks, and those
//! networks as the bridge's allow-list when "Devices on this network can send" is on.

use std::net::Ipv4Addr;

/// One of this computer's addresses on a local network, with that network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalAddress {
    pub address: Ipv4Addr,
    pub network: ipnet::Ipv4Net,
}

/// This computer's IPv4 addresses on private networks (10/8, 172.16/12, 192.168/16), each with its network, in a
/// stable order. A public address is never offered: the bridge is for the practice's own network.
pub fn local_addresses() -> Vec<LocalAddress> {
    let mut found: Vec<LocalAddress> = if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|interface| match interface.addr {
            if_addrs::IfAddr::V4(v4) if v4.ip.is_private() => {
                let prefix = u32::from(v4.netmask).leading_ones() as u8;
                let network = ipnet::Ipv4Net::new(v4.ip, prefix).ok()?.trunc();
                Some(LocalAddress {
                    address: v4.ip,
                    network,
                })
            }
            _ => None,
        })
        .collect();
    found.sort_by_key(|local| local.address);
    found.dedup();
    found
}

/// The networks of `addresses`, once each: the allow-list for devices on this computer's networks.
pub fn networks(addresses: &[LocalAddress]) -> Vec<ipnet::IpNet> {
    let mut networks: Vec<ipnet::IpNet> = addresses
        .iter()
        .map(|local| ipnet::IpNet::V4(local.network))
        .collect();
    networks.dedup();
    networks
}

/// This computer's name, for the bridge's greeting and certificate and for a person to type into a device: the
/// system's host name when it is a plain DNS name, else "localhost".
pub fn computer_name() -> String {
    hostname::get()
        .ok()
        .and_then(|name| name.into_string().ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| {
            !name.is_empty()
                && name.len() <= 253
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        })
        .unwrap_or_else(|| "localhost".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_private_addresses_with_their_networks() {
        for local in local_addresses() {
            assert!(local.address.is_private(), "{local:?}");
            assert!(local.network.contains(&local.address), "{local:?}");
        }
        let name = computer_name();
        assert!(!name.is_empty() && !name.contains(char::is_whitespace));
    }
}
