//! What one instance sees under `http://100.100.100.200/<version>/`: its `GuestView` laid out as ECS lays out
//! instance metadata (a tree of items; a directory answers with its entries, one per line, sub-directories
//! ending in `/`, the listing cloud-init's AliYun datasource crawls), plus `user-data`, `vendor-data` and the
//! instance identity document. Pure: built from a view, read by path.

use std::collections::BTreeMap;

use serde::Serialize;

/// Everything the metadata service says about one instance: read from its records at each request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GuestView {
    pub instance_id: String,
    pub instance_name: String,
    pub instance_type: String,
    pub host_name: String,
    pub image_id: String,
    pub region_id: String,
    pub zone_id: String,
    pub owner_account_id: String,
    pub network_interface_id: String,
    pub mac: String,
    pub private_ipv4: String,
    pub netmask: String,
    pub gateway: String,
    pub public_ipv4: Option<String>,
    pub vpc_id: String,
    pub vpc_cidr_block: String,
    pub vswitch_id: String,
    pub vswitch_cidr_block: String,
    /// OpenSSH public key lines (the attached key pair's).
    pub public_keys: Vec<String>,
    /// UserData decoded (what cloud-init runs).
    pub user_data: Option<Vec<u8>>,
    /// The root password's SHA-512 crypt hash, handed to cloud-init in vendor-data.
    pub password_hash: Option<String>,
    /// HttpEndpoint=disabled: the service answers nothing but 403.
    pub endpoint_disabled: bool,
    /// HttpTokens=required: reads without a token are refused.
    pub tokens_required: bool,
}

/// A metadata item: a value or a directory of items.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Value(Vec<u8>),
    Dir(BTreeMap<String, Node>),
}

impl Node {
    fn dir() -> Node {
        Node::Dir(BTreeMap::new())
    }

    /// Put a value at a `/`-separated path below this directory, making directories on the way.
    fn put(&mut self, path: &str, value: impl Into<Vec<u8>>) {
        let Node::Dir(entries) = self else { return };
        match path.split_once('/') {
            None => {
                entries.insert(path.to_string(), Node::Value(value.into()));
            }
            Some((head, rest)) => entries.entry(head.to_string()).or_insert_with(Node::dir).put(rest, value),
        }
    }

    /// The item at a path (`""` is this directory; a trailing `/` is allowed on directories only).
    pub fn get(&self, path: &str) -> Option<&Node> {
        let (path, wants_dir) = match path.strip_suffix('/') {
            Some(p) => (p, true),
            None => (path, false),
        };
        let mut node = self;
        for part in path.split('/').filter(|p| !p.is_empty()) {
            match node {
                Node::Dir(entries) => node = entries.get(part)?,
                Node::Value(_) => return None,
            }
        }
        match node {
            Node::Value(_) if wants_dir => None,
            found => Some(found),
        }
    }

    /// What a GET answers: a value's bytes, or a directory's entries one per line (directories with `/`).
    pub fn body(&self) -> Vec<u8> {
        match self {
            Node::Value(v) => v.clone(),
            Node::Dir(entries) => entries
                .iter()
                .map(|(name, node)| match node {
                    Node::Dir(_) => format!("{name}/"),
                    Node::Value(_) => name.clone(),
                })
                .collect::<Vec<_>>()
                .join("\n")
                .into_bytes(),
        }
    }
}

/// The instance identity document (`dynamic/instance-identity/document`), as ECS words it.
#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct IdentityDocument<'a> {
    zone_id: &'a str,
    serial_number: &'a str,
    instance_id: &'a str,
    region_id: &'a str,
    private_ipv4: &'a str,
    owner_account_id: &'a str,
    mac: &'a str,
    image_id: &'a str,
    instance_type: &'a str,
}

/// vendor-data: cloud-config that lets root in with the instance's key pair (as on ECS images) and sets the
/// root password from its hash when the instance has one.
pub fn vendor_data(view: &GuestView) -> String {
    let mut text = String::from("#cloud-config\ndisable_root: false\n");
    match &view.password_hash {
        Some(hash) => {
            text.push_str("ssh_pwauth: true\nchpasswd:\n  expire: false\n  list: |\n");
            text.push_str(&format!("    root:{hash}\n"));
        }
        None => text.push_str("ssh_pwauth: false\n"),
    }
    text
}

/// The tree of one version (`latest`, `2016-01-01`): `meta-data/`, `user-data`, `vendor-data`, `dynamic/`.
pub fn version_tree(view: &GuestView) -> Node {
    let mut root = Node::dir();
    let mut meta = Node::dir();
    let v = view;
    for (path, value) in [
        ("instance-id", &v.instance_id),
        ("hostname", &v.host_name),
        ("image-id", &v.image_id),
        ("region-id", &v.region_id),
        ("zone-id", &v.zone_id),
        ("owner-account-id", &v.owner_account_id),
        ("serial-number", &v.instance_id),
        ("mac", &v.mac),
        ("private-ipv4", &v.private_ipv4),
        ("vpc-id", &v.vpc_id),
        ("vpc-cidr-block", &v.vpc_cidr_block),
        ("vswitch-id", &v.vswitch_id),
        ("vswitch-cidr-block", &v.vswitch_cidr_block),
        ("instance/instance-type", &v.instance_type),
        ("instance/instance-name", &v.instance_name),
    ] {
        meta.put(path, value.as_bytes());
    }
    meta.put("network-type", "vpc");
    meta.put("instance/virtualization-solution", "ECS Virt");
    meta.put("sub-private-ipv4-list", v.private_ipv4.as_bytes());
    if let Some(public) = &v.public_ipv4 {
        meta.put("public-ipv4", public.as_bytes());
    }
    let nic = format!("network/interfaces/macs/{}", v.mac);
    for (item, value) in [
        ("network-interface-id", &v.network_interface_id),
        ("primary-ip-address", &v.private_ipv4),
        ("netmask", &v.netmask),
        ("gateway", &v.gateway),
        ("vpc-id", &v.vpc_id),
        ("vpc-cidr-block", &v.vpc_cidr_block),
        ("vswitch-id", &v.vswitch_id),
        ("vswitch-cidr-block", &v.vswitch_cidr_block),
    ] {
        meta.put(&format!("{nic}/{item}"), value.as_bytes());
    }
    meta.put(&format!("{nic}/private-ipv4s"), format!("[\"{}\"]", v.private_ipv4));
    for (index, key) in v.public_keys.iter().enumerate() {
        meta.put(&format!("public-keys/{index}/openssh-key"), key.as_bytes());
    }
    if let Node::Dir(entries) = &mut root {
        entries.insert("meta-data".into(), meta);
    }
    if let Some(user_data) = &v.user_data {
        root.put("user-data", user_data.clone());
    }
    root.put("vendor-data", vendor_data(v));
    let document = IdentityDocument {
        zone_id: &v.zone_id,
        serial_number: &v.instance_id,
        instance_id: &v.instance_id,
        region_id: &v.region_id,
        private_ipv4: &v.private_ipv4,
        owner_account_id: &v.owner_account_id,
        mac: &v.mac,
        image_id: &v.image_id,
        instance_type: &v.instance_type,
    };
    let document = serde_json::to_vec(&document).unwrap_or_default();
    root.put("dynamic/instance-identity/document", document);
    root
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn view() -> GuestView {
        GuestView {
            instance_id: "i-1".into(),
            instance_name: "web".into(),
            instance_type: "ecs.t1.small".into(),
            host_name: "web-1".into(),
            image_id: "m-1".into(),
            region_id: "cn-lab".into(),
            zone_id: "cn-lab-a".into(),
            owner_account_id: "1000".into(),
            network_interface_id: "eni-1".into(),
            mac: "00:16:3e:00:00:01".into(),
            private_ipv4: "192.168.1.1".into(),
            netmask: "255.255.255.0".into(),
            gateway: "192.168.1.253".into(),
            public_ipv4: None,
            vpc_id: "vpc-1".into(),
            vpc_cidr_block: "192.168.0.0/16".into(),
            vswitch_id: "vsw-1".into(),
            vswitch_cidr_block: "192.168.1.0/24".into(),
            public_keys: vec!["ssh-ed25519 AAAA k".into()],
            user_data: Some(b"#!/bin/sh\necho hi\n".to_vec()),
            password_hash: None,
            endpoint_disabled: false,
            tokens_required: false,
        }
    }

    fn text(tree: &Node, path: &str) -> Option<String> {
        tree.get(path).map(|n| String::from_utf8(n.body()).unwrap())
    }

    #[test]
    fn listings_are_what_the_ec2_style_crawler_reads() {
        let tree = version_tree(&view());
        let meta = text(&tree, "meta-data/").unwrap();
        assert!(meta.lines().any(|l| l == "instance-id"));
        assert!(meta.lines().any(|l| l == "public-keys/"));
        assert!(meta.lines().any(|l| l == "network/"));
        assert!(!meta.lines().any(|l| l == "public-ipv4"), "no public address, no item");
        assert_eq!(text(&tree, "meta-data/public-keys/").unwrap(), "0/");
        assert_eq!(text(&tree, "meta-data/public-keys/0/").unwrap(), "openssh-key");
        assert_eq!(text(&tree, "meta-data/public-keys/0/openssh-key").unwrap(), "ssh-ed25519 AAAA k");
        assert_eq!(text(&tree, "meta-data/instance-id").unwrap(), "i-1");
        assert_eq!(text(&tree, "meta-data/hostname").unwrap(), "web-1");
        assert_eq!(
            text(&tree, "meta-data/network/interfaces/macs/00:16:3e:00:00:01/vswitch-id").unwrap(),
            "vsw-1"
        );
        assert_eq!(text(&tree, "user-data").unwrap(), "#!/bin/sh\necho hi\n");
        let top = text(&tree, "").unwrap();
        assert_eq!(top, "dynamic/\nmeta-data/\nuser-data\nvendor-data");
        let doc: serde_json::Value =
            serde_json::from_str(&text(&tree, "dynamic/instance-identity/document").unwrap()).unwrap();
        assert_eq!(doc["instance-id"], "i-1");
        assert_eq!(doc["private-ipv4"], "192.168.1.1");
    }

    #[test]
    fn paths_that_are_not_there_are_none() {
        let tree = version_tree(&GuestView { user_data: None, ..view() });
        assert!(tree.get("user-data").is_none());
        assert!(tree.get("meta-data/instance-id/").is_none(), "a value is not a directory");
        assert!(tree.get("meta-data/nothing").is_none());
        assert!(tree.get("meta-data/instance-id/deeper").is_none());
        assert!(tree.get("meta-data").is_some(), "a directory without its slash");
    }

    #[test]
    fn vendor_data_sets_the_password_from_its_hash_only() {
        let plain = vendor_data(&view());
        assert!(plain.starts_with("#cloud-config\n") && plain.contains("ssh_pwauth: false"));
        let with = vendor_data(&GuestView { password_hash: Some("$6$salt$hash".into()), ..view() });
        assert!(with.contains("    root:$6$salt$hash\n") && with.contains("ssh_pwauth: true"));
    }
}
