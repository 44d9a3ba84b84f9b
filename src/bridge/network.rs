//! This computer as devices on its network see it: its name and its IPv4 addresses on private networks, and those
//! networks as the bridge's allow-list when "Devices on this network can send" is on.

use std::net::Ipv4Addr;

/// One of this computer's addresses on a local network, with that network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalAddress {
    pub address: Ipv4Addr,
    pub network: ipnet::Ipv4Net,
}

/// The private blocks (RFC 1918): an address and its network must lie inside one.
const PRIVATE_BLOCKS: [(Ipv4Addr, u8); 3] = [
    (Ipv4Addr::new(10, 0, 0, 0), 8),
    (Ipv4Addr::new(172, 16, 0, 0), 12),
    (Ipv4Addr::new(192, 168, 0, 0), 16),
];

/// Interfaces that are not the practice's network: containers, virtual machines' bridges and VPN tunnels.
const NOT_THE_LAN: [&str; 9] = [
    "docker", "br-", "veth", "virbr", "vmnet", "vboxnet", "tun", "tap", "wg",
];

/// This computer's IPv4 addresses on private networks (10/8, 172.16/12, 192.168/16), each with its network, the
/// practice's own network first (192.168 before 10 before 172.16, where containers and VPNs usually are).
/// Containers', virtual machines' and VPN interfaces are left out, and a network never reaches past its private
/// block (a netmask of 0.0.0.0 would otherwise open the bridge to the internet).
pub fn local_addresses() -> Vec<LocalAddress> {
    let mut found: Vec<LocalAddress> = if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .filter(|interface| {
            let name = interface.name.to_ascii_lowercase();
            !NOT_THE_LAN.iter().any(|prefix| name.starts_with(prefix))
        })
        .filter_map(|interface| match interface.addr {
            if_addrs::IfAddr::V4(v4) => {
                let prefix = u32::from(v4.netmask).leading_ones() as u8;
                local_address(v4.ip, prefix)
            }
            _ => None,
        })
        .collect();
    found.sort_by_key(|local| (preference(local.address), local.address));
    found.dedup();
    found
}

/// `address` with its network of `prefix` bits, kept inside its private block; `None` for a public address.
fn local_address(address: Ipv4Addr, prefix: u8) -> Option<LocalAddress> {
    let (_, block_prefix) = PRIVATE_BLOCKS.iter().find(|(block, bits)| {
        ipnet::Ipv4Net::new(*block, *bits).is_ok_and(|net| net.contains(&address))
    })?;
    let network = ipnet::Ipv4Net::new(address, prefix.clamp(*block_prefix, 32))
        .ok()?
        .trunc();
    Some(LocalAddress { address, network })
}

/// Which private block a practice's own network most likely uses: lower first.
fn preference(address: Ipv4Addr) -> u8 {
    match address.octets() {
        [192, 168, ..] => 0,
        [10, ..] => 1,
        _ => 2,
    }
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
    fn a_network_never_reaches_past_its_private_block_and_public_addresses_are_left_out() {
        let at = |a, b, c, d, prefix| local_address(Ipv4Addr::new(a, b, c, d), prefix);
        assert_eq!(
            at(192, 168, 1, 20, 24).unwrap().network.to_string(),
            "192.168.1.0/24"
        );
        assert_eq!(
            at(192, 168, 1, 20, 0).unwrap().network.to_string(),
            "192.168.0.0/16",
            "a netmask of 0.0.0.0"
        );
        assert_eq!(
            at(10, 7, 0, 1, 4).unwrap().network.to_string(),
            "10.0.0.0/8"
        );
        assert_eq!(
            at(172, 20, 0, 1, 8).unwrap().network.to_string(),
            "172.16.0.0/12"
        );
        assert!(at(192, 0, 2, 2, 24).is_none(), "a public address");
        assert!(at(172, 32, 0, 1, 24).is_none(), "just past 172.16/12");
        assert!(
            preference(Ipv4Addr::new(192, 168, 1, 2)) < preference(Ipv4Addr::new(172, 17, 0, 1))
        );
    }

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
