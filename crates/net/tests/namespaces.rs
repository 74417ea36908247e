//! The plumbing on REAL namespaces (root only; skipped with a message otherwise).
//!
//! Stand-in guests are network namespaces of their own, joined to the "tap" by a veth pair: the host end carries the
//! tap's name and is what `apply` moves into the VPC namespace and configures, exactly as it does a tap (the
//! plumbing takes interface names). Real taps are checked here too (`prepare_tap`, then held open by a process
//! that attaches by name as QEMU does, then moved); taps opened by QEMU or libvirt themselves are the VM tests' part. Inside each stand-in: busybox `udhcpc` for the
//! address and busybox `httpd` for a page naming the guest. Every packet goes to loopback or into namespaces these
//! tests made; the VPC namespaces have no route out.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ecslab_net::filter::{Direction, L4};
use ecslab_net::{
    decide_flow, netns, GroupRules, HostNetwork, MacAddr, NicNet, Packet, Peer, Policy, PortRange, Priority,
    Protocol, PublicProxy, Rule, VSwitchNet, Verdict, VpcNetwork,
};

const HTTP_PORT: u16 = 8080;

fn is_root() -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    eprintln!("SKIPPED: these tests create network namespaces and need root");
    false
}

fn sh(program: &str, args: &[&str]) {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A stand-in guest: its own namespace, `eth0` joined by veth to an end named like the NIC's tap.
struct Guest {
    name: String,
    ns: String,
    dir: PathBuf,
    httpd: Option<Child>,
}

impl Guest {
    fn new(name: &str, tap: &str, mac: MacAddr, dir: &Path) -> Guest {
        let ns = format!("elt{}-{name}", std::process::id());
        let dir = dir.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        sh("ip", &["netns", "add", &ns]);
        let guest = Guest { name: name.into(), ns, dir, httpd: None };
        sh("ip", &["link", "add", tap, "type", "veth", "peer", "name", "eth0", "netns", &guest.ns]);
        // As prepare_tap leaves a tap: up, IPv6 off; with its guest end up it has carrier, as a tap held by a VM.
        std::fs::write(format!("/proc/sys/net/ipv6/conf/{tap}/disable_ipv6"), "1").unwrap();
        sh("ip", &["link", "set", "dev", tap, "up"]);
        sh("ip", &["-n", &guest.ns, "link", "set", "dev", "lo", "up"]);
        sh("ip", &["-n", &guest.ns, "link", "set", "dev", "eth0", "address", &mac.to_string(), "up"]);
        netns::write_sysctls(&guest.path(), vec![("net/ipv6/conf/all/disable_ipv6".into(), "1".into())])
            .unwrap();
        guest
    }

    fn path(&self) -> PathBuf {
        Path::new("/run/netns").join(&self.ns)
    }

    /// Runs busybox udhcpc once on eth0; returns the address it was given (and configured).
    fn dhcp(&self) -> Ipv4Addr {
        let script = self.dir.join("udhcpc.sh");
        let out = self.dir.join("lease");
        std::fs::write(
            &script,
            "#!/bin/sh\n[ \"$1\" = bound ] || exit 0\nip addr add \"$ip/$mask\" dev \"$interface\"\n\
             ip route add default via \"$router\" dev \"$interface\"\necho \"$ip\" > \"$LEASE_OUT\"\n",
        )
        .unwrap();
        sh("chmod", &["+x", script.to_str().unwrap()]);
        let lease_out = format!("LEASE_OUT={}", out.display());
        let s = script.to_str().unwrap();
        let args = ["netns", "exec", &self.ns, "env", &lease_out, "busybox", "udhcpc"];
        let out_ = Command::new("ip")
            .args(args)
            .args(["-i", "eth0", "-f", "-q", "-n", "-t", "8", "-T", "1", "-s", s])
            .output()
            .unwrap();
        assert!(out_.status.success(), "udhcpc in {}: {}", self.name, String::from_utf8_lossy(&out_.stderr));
        std::fs::read_to_string(&out).unwrap().trim().parse().unwrap()
    }

    /// busybox httpd on HTTP_PORT serving "guest-NAME".
    fn serve(&mut self) {
        let root = self.dir.join("www");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("index.html"), format!("guest-{}\n", self.name)).unwrap();
        let port = HTTP_PORT.to_string();
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns, "busybox", "httpd", "-f", "-p", &port, "-h"])
            .arg(&root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.httpd = Some(child);
        let deadline = Instant::now() + Duration::from_secs(3);
        while fetch_in(&self.path(), Ipv4Addr::LOCALHOST, Duration::from_millis(200)).is_err() {
            assert!(Instant::now() < deadline, "httpd of {} does not answer", self.name);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// This guest fetches http://ADDR:HTTP_PORT/.
    fn fetch(&self, addr: Ipv4Addr) -> std::io::Result<String> {
        fetch_in(&self.path(), addr, Duration::from_millis(300))
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        if let Some(mut child) = self.httpd.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        // Deleting the namespace deletes eth0 and with it the veth's other end, wherever it is.
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
    }
}

fn http_get(mut stream: TcpStream) -> std::io::Result<String> {
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.write_all(b"GET / HTTP/1.0\r\nHost: guest\r\n\r\n")?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply)?;
    Ok(reply)
}

fn fetch_in(ns: &Path, addr: Ipv4Addr, timeout: Duration) -> std::io::Result<String> {
    http_get(netns::tcp_connect_in(ns, SocketAddr::from((addr, HTTP_PORT)), timeout)?)
}

/// Removes the VPCs on every exit path.
struct VpcsGuard(HostNetwork, Vec<String>);

impl Drop for VpcsGuard {
    fn drop(&mut self) {
        for vpc in &self.1 {
            if let Err(e) = self.0.remove_vpc(vpc) {
                eprintln!("cleanup of {vpc}: {e}");
            }
        }
    }
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn nic(hn: &HostNetwork, id: &str, addr: &str, mac_last: u8, group: &str) -> NicNet {
    NicNet {
        id: id.into(),
        tap: hn.tap_name(id),
        mac: MacAddr([0x52, 0x54, 0x00, 0xec, 0x1a, mac_last]),
        ip: ip(addr),
        vswitch_id: "vsw-1".into(),
        groups: vec![group.into()],
    }
}

fn vswitches() -> Vec<VSwitchNet> {
    vec![
        VSwitchNet {
            id: "vsw-1".into(),
            cidr: "192.168.1.0/24".parse().unwrap(),
            gateway: ip("192.168.1.253"),
        },
        VSwitchNet {
            id: "vsw-2".into(),
            cidr: "192.168.2.0/24".parse().unwrap(),
            gateway: ip("192.168.2.253"),
        },
    ]
}

fn tcp_rule(port: u16, peer: &str, policy: Policy) -> Rule {
    Rule {
        direction: Direction::Ingress,
        protocol: Protocol::Tcp,
        ports: PortRange::single(port).unwrap(),
        peer: Peer::Cidr(peer.parse().unwrap()),
        policy,
        priority: Priority::new(1).unwrap(),
    }
}

fn pid_alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| !matches!(s.rsplit(") ").next().and_then(|r| r.chars().next()), Some('Z') | Some('X')))
}

/// Polls `check` every 10 ms until it holds; returns how long that took from `since`.
fn until(since: Instant, limit: Duration, what: &str, mut check: impl FnMut() -> bool) -> Duration {
    loop {
        if check() {
            return since.elapsed();
        }
        assert!(since.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn vpcs_give_dhcp_isolation_live_rules_a_public_proxy_and_clean_up() {
    if !is_root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let hn = HostNetwork::new(tmp.path().join("data"));
    let guard = VpcsGuard(hn.clone(), vec!["vpc-one".into(), "vpc-two".into()]);

    let mut one = VpcNetwork {
        vpc_id: "vpc-one".into(),
        vswitches: vswitches(),
        nics: vec![
            nic(&hn, "eni-a", "192.168.1.10", 0x0a, "sg-1"),
            nic(&hn, "eni-b", "192.168.1.11", 0x0b, "sg-1"),
            NicNet { vswitch_id: "vsw-2".into(), ..nic(&hn, "eni-d", "192.168.2.20", 0x0d, "sg-1") },
        ],
        groups: vec![GroupRules { id: "sg-1".into(), rules: vec![] }],
    };
    // Another VPC with the same CIDR, and a guest with the same address as A.
    let two = VpcNetwork {
        vpc_id: "vpc-two".into(),
        vswitches: vswitches(),
        nics: vec![nic(&hn, "eni-c", "192.168.1.10", 0x0c, "sg-2")],
        groups: vec![GroupRules { id: "sg-2".into(), rules: vec![] }],
    };
    let mut a = Guest::new("a", &one.nics[0].tap, one.nics[0].mac, tmp.path());
    let mut b = Guest::new("b", &one.nics[1].tap, one.nics[1].mac, tmp.path());
    let mut c = Guest::new("c", &two.nics[0].tap, two.nics[0].mac, tmp.path());
    let mut d = Guest::new("d", &one.nics[2].tap, one.nics[2].mac, tmp.path());

    // D joins later (an instance started in an existing VPC).
    let eni_d = one.nics.pop().unwrap();
    let t = Instant::now();
    let report = hn.apply(&one).unwrap();
    println!("first apply of vpc-one (namespace, table, 2 taps, dnsmasq): {:?}", t.elapsed());
    assert_eq!(report.configured, vec!["eni-a", "eni-b"]);
    assert_eq!(report.dhcp, ecslab_net::DhcpAction::Started);
    one.nics.push(eni_d);
    let report = hn.apply(&one).unwrap();
    assert_eq!(report.configured, vec!["eni-a", "eni-b", "eni-d"]);
    assert_eq!(report.dhcp, ecslab_net::DhcpAction::Reloaded, "a new NIC is a new static lease, by SIGHUP");
    println!("apply adding a NIC: {:?}", report.elapsed);
    hn.apply(&two).unwrap();
    // Idempotent, and a second HostNetwork on the same data dir adopts the running dnsmasq.
    let again = HostNetwork::new(tmp.path().join("data")).apply(&one).unwrap();
    assert_eq!((again.configured.len(), again.dhcp), (3, ecslab_net::DhcpAction::Unchanged));
    println!("idempotent re-apply: {:?}", again.elapsed);
    // No route out of a VPC namespace.
    let routes =
        Command::new("ip").args(["-n", &hn.netns_name("vpc-one"), "route", "show", "default"]).output();
    assert!(routes.unwrap().stdout.is_empty());

    let t = Instant::now();
    assert_eq!(a.dhcp(), ip("192.168.1.10"));
    assert_eq!(b.dhcp(), ip("192.168.1.11"));
    assert_eq!(c.dhcp(), ip("192.168.1.10"));
    assert_eq!(d.dhcp(), ip("192.168.2.20"));
    println!("DHCP of four stand-ins: {:?}", t.elapsed());
    a.serve();
    b.serve();
    c.serve();
    d.serve();
    // The namespace answers ICMP at the gateway and drops anything else sent to it (a timeout, not a refusal).
    let ping = Command::new("ip")
        .args(["netns", "exec", &a.ns, "busybox", "ping", "-c", "1", "-W", "1", "192.168.1.253"])
        .output()
        .unwrap();
    assert!(ping.status.success(), "ping of the gateway: {}", String::from_utf8_lossy(&ping.stdout));
    let to_gateway = a.fetch(ip("192.168.1.253")).unwrap_err();
    assert_eq!(to_gateway.kind(), std::io::ErrorKind::TimedOut, "{to_gateway}");

    // Same group: A and B reach each other. The oracle agrees.
    let flow = |src: &str, dst: &str| Packet { src: ip(src), dst: ip(dst), l4: L4::Tcp { dport: HTTP_PORT } };
    assert_eq!(decide_flow(&one, &flow("192.168.1.10", "192.168.1.11")), Verdict::Accept);
    assert!(a.fetch(ip("192.168.1.11")).unwrap().contains("guest-b"));
    assert!(b.fetch(ip("192.168.1.10")).unwrap().contains("guest-a"), "B reaches A, not C of the other VPC");
    // Across vSwitches of the VPC, routed by the namespace.
    assert!(a.fetch(ip("192.168.2.20")).unwrap().contains("guest-d"));
    assert!(d.fetch(ip("192.168.1.11")).unwrap().contains("guest-b"));
    // The other VPC is isolated: C reaches no B, and its own 192.168.1.10 is itself.
    assert!(c.fetch(ip("192.168.1.11")).is_err());
    assert!(c.fetch(ip("192.168.1.10")).unwrap().contains("guest-c"));

    // A rule change takes effect live: drop 8080 from anywhere (beats the same-group default).
    one.groups[0].rules = vec![tcp_rule(HTTP_PORT, "0.0.0.0/0", Policy::Drop)];
    assert_eq!(decide_flow(&one, &flow("192.168.1.10", "192.168.1.11")), Verdict::Drop);
    let t = Instant::now();
    let applied = hn.apply(&one).unwrap();
    let returned = t.elapsed();
    assert_eq!(applied.dhcp, ecslab_net::DhcpAction::Unchanged);
    // In force when apply() returns: the very next attempt is dropped.
    assert!(a.fetch(ip("192.168.1.11")).is_err(), "A->B still open after apply()");
    println!(
        "revoke: in force when apply() returned, {returned:?} after the call; the next A->B SYN was dropped"
    );
    // Open 8080 to the host only (127.0.0.0/8) and back to the default for guests.
    one.groups[0].rules = vec![tcp_rule(HTTP_PORT, "127.0.0.0/8", Policy::Accept)];
    let t = Instant::now();
    hn.apply(&one).unwrap();
    let returned = t.elapsed();
    assert!(a.fetch(ip("192.168.1.11")).is_ok(), "A->B not open again after apply()");
    println!(
        "grant: in force when apply() returned, {returned:?} after the call; the next A->B fetch answered"
    );

    // The public address: 127.x.y.z:8080 proxies to B through the VPC namespace.
    let pid = std::process::id();
    let public = Ipv4Addr::new(127, 77, (pid >> 8) as u8, (pid as u8).max(1));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let proxy =
        rt.block_on(PublicProxy::start(public, hn.netns_path("vpc-one"), "eni-b", Arc::new(one.clone())));
    assert_eq!(rt.block_on(proxy.ports()), vec![HTTP_PORT]);
    let host_fetch = || {
        TcpStream::connect_timeout(&SocketAddr::from((public, HTTP_PORT)), Duration::from_millis(300))
            .and_then(http_get)
    };
    let t = Instant::now();
    let before = hn.tap_bytes("vpc-one").unwrap()[&one.nics[1].tap];
    let page = host_fetch().unwrap();
    assert!(page.contains("guest-b"));
    println!("host fetch through the public proxy: {:?}", t.elapsed());
    // The proxy counted the request B received and the page it sent, byte for byte; B's tap carried them too,
    // with the packets' headers and the TCP handshake around them.
    let request = b"GET / HTTP/1.0\r\nHost: guest\r\n\r\n".len() as u64;
    let public = proxy.guest_bytes();
    assert_eq!((public.received, public.sent), (request, page.len() as u64));
    let carried = hn.tap_bytes("vpc-one").unwrap()[&one.nics[1].tap].since(before);
    assert!(carried.received > public.received && carried.sent > public.sent, "{carried:?} vs {public:?}");
    assert!(carried.sent < public.sent + 2048, "{carried:?}: only this connection's packets");
    // Revoke: the port closes.
    one.groups[0].rules = vec![];
    let t = Instant::now();
    hn.apply(&one).unwrap();
    assert_eq!(rt.block_on(proxy.update(Arc::new(one.clone()))), Vec::<u16>::new());
    let closed = until(t, Duration::from_secs(1), "public port closes", || host_fetch().is_err());
    println!("public revoke: refused {closed:?} after apply() began");
    // Authorize again: it answers.
    one.groups[0].rules = vec![tcp_rule(HTTP_PORT, "0.0.0.0/0", Policy::Accept)];
    hn.apply(&one).unwrap();
    rt.block_on(proxy.update(Arc::new(one.clone())));
    assert!(host_fetch().unwrap().contains("guest-b"));
    drop(proxy);
    drop(rt);

    // remove_vpc leaves no namespace, process or file.
    let pids: Vec<i32> = ["vpc-one", "vpc-two"]
        .iter()
        .map(|v| std::fs::read_to_string(hn.vpc_dir(v).join("dnsmasq.pid")).unwrap().trim().parse().unwrap())
        .collect();
    assert!(pids.iter().all(|p| pid_alive(*p)));
    let taps: Vec<String> = one.nics.iter().chain(&two.nics).map(|n| n.tap.clone()).collect();
    drop((a, b, c, d));
    for vpc in ["vpc-one", "vpc-two"] {
        hn.remove_vpc(vpc).unwrap();
        assert!(!hn.netns_path(vpc).exists());
        assert!(!hn.vpc_dir(vpc).exists());
    }
    assert!(hn.vpcs().is_empty());
    assert!(pids.iter().all(|p| !pid_alive(*p)), "dnsmasq still running");
    for tap in taps {
        assert!(!Command::new("ip").args(["link", "show", "dev", &tap]).output().unwrap().status.success());
    }
    hn.remove_vpc("vpc-one").unwrap();
    drop(guard);
}

/// A process holding a tap open the way QEMU does (`TUNSETIFF` with IFF_TAP | IFF_NO_PI, by name).
struct TapHolder(Child);

impl TapHolder {
    fn open(tap: &str) -> TapHolder {
        let script = "import fcntl, os, struct, sys, time\n\
                      fd = os.open('/dev/net/tun', os.O_RDWR)\n\
                      fcntl.ioctl(fd, 0x400454ca, struct.pack('16sH', sys.argv[1].encode(), 0x1002))\n\
                      print('open', flush=True)\n\
                      time.sleep(120)\n";
        let mut child =
            Command::new("python3").args(["-c", script, tap]).stdout(Stdio::piped()).spawn().unwrap();
        let mut line = [0u8; 5];
        child.stdout.as_mut().unwrap().read_exact(&mut line).unwrap();
        assert_eq!(&line, b"open\n");
        TapHolder(child)
    }
}

impl Drop for TapHolder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn prepare_tap_makes_a_persistent_tap_that_apply_moves_once_opened() {
    if !is_root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let hn = HostNetwork::new(tmp.path().join("data"));
    let _guard = VpcsGuard(hn.clone(), vec!["vpc-tap".into()]);
    let n = nic(&hn, "eni-t", "192.168.1.20", 0x20, "sg-t");
    let vpc = VpcNetwork {
        vpc_id: "vpc-tap".into(),
        vswitches: vswitches(),
        nics: vec![n.clone()],
        groups: vec![],
    };
    let in_host =
        || Command::new("ip").args(["link", "show", "dev", &n.tap]).output().unwrap().status.success();
    let in_vpc = || {
        Command::new("ip")
            .args(["-n", &hn.netns_name("vpc-tap"), "link", "show", "dev", &n.tap])
            .output()
            .unwrap()
            .status
            .success()
    };
    struct TapGuard(String);
    impl Drop for TapGuard {
        fn drop(&mut self) {
            let _ = Command::new("ip").args(["link", "del", "dev", &self.0]).output();
        }
    }
    let _tap = TapGuard(n.tap.clone());

    // Before any VM: the tap is absent and apply says so.
    assert_eq!(hn.apply(&vpc).unwrap().absent, vec!["eni-t"]);
    hn.prepare_tap(&n).unwrap();
    let details = Command::new("ip").args(["-d", "link", "show", "dev", &n.tap]).output().unwrap();
    let details = String::from_utf8_lossy(&details.stdout).to_string();
    assert!(details.contains("tun type tap") && details.contains("persist on"), "{details}");
    // No VM holds it yet: apply leaves it in the host namespace for the VM to open by name.
    assert_eq!(hn.apply(&vpc).unwrap().waiting, vec!["eni-t"]);
    assert!(in_host() && !in_vpc());
    // A process opens it as QEMU does (TUNSETIFF by name): apply moves it, open, into the VPC namespace.
    let vm = TapHolder::open(&n.tap);
    assert_eq!(hn.apply(&vpc).unwrap().configured, vec!["eni-t"]);
    assert!(!in_host() && in_vpc());
    let ns = hn.netns_name("vpc-tap");
    let addr = Command::new("ip").args(["-n", &ns, "-4", "addr", "show", "dev", &n.tap]).output().unwrap();
    let addr = String::from_utf8_lossy(&addr.stdout).to_string();
    assert!(addr.contains("192.168.1.253/24") && addr.contains("LOWER_UP"), "moved with its fd open: {addr}");
    drop(vm);
    // A restart of the VM: prepare_tap replaces the stale tap in the namespace with a fresh one in the host.
    hn.prepare_tap(&n).unwrap();
    assert!(in_host() && !in_vpc());
    hn.remove_nic(&n).unwrap();
    assert!(!in_host() && !in_vpc());
    hn.remove_vpc("vpc-tap").unwrap();
    assert!(!hn.netns_path("vpc-tap").exists());
}

#[test]
fn probe_succeeds_as_root() {
    if !is_root() {
        return;
    }
    HostNetwork::probe().unwrap();
}

/// Connects from inside `ns` to the metadata service with the source address `source`; returns what the test's
/// server answered (the peer address it saw).
fn metadata_from(ns: &Path, source: Ipv4Addr) -> std::io::Result<String> {
    use socket2::{Domain, Socket, Type};
    let stream = netns::in_netns(ns, move || -> std::io::Result<TcpStream> {
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
        socket.bind(&SocketAddr::from((source, 0)).into())?;
        let target = SocketAddr::from((ecslab_net::METADATA_ADDR, ecslab_net::METADATA_PORT));
        socket.connect_timeout(&target.into(), Duration::from_millis(500))?;
        Ok(socket.into())
    })??;
    http_get(stream)
}

#[test]
fn the_metadata_service_hears_each_nic_from_its_own_address_only() {
    if !is_root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let hn = HostNetwork::new(tmp.path().join("data"));
    let _guard = VpcsGuard(hn.clone(), vec!["vpc-md".into()]);
    let vpc = VpcNetwork {
        vpc_id: "vpc-md".into(),
        vswitches: vswitches(),
        nics: vec![
            nic(&hn, "eni-ma", "192.168.1.30", 0x1a, "sg-m"),
            nic(&hn, "eni-mb", "192.168.1.31", 0x1b, "sg-m"),
        ],
        groups: vec![GroupRules { id: "sg-m".into(), rules: vec![] }],
    };
    let a = Guest::new("ma", &vpc.nics[0].tap, vpc.nics[0].mac, tmp.path());
    let b = Guest::new("mb", &vpc.nics[1].tap, vpc.nics[1].mac, tmp.path());
    hn.apply(&vpc).unwrap();
    assert_eq!(a.dhcp(), ip("192.168.1.30"));
    assert_eq!(b.dhcp(), ip("192.168.1.31"));

    // A stand-in metadata service: answers each connection with the source address it sees.
    let listener = ecslab_net::metadata_listener(&hn.netns_path("vpc-md")).unwrap();
    listener.set_nonblocking(false).unwrap();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let peer = stream.peer_addr().map(|p| p.ip().to_string()).unwrap_or_default();
            let mut head = [0u8; 256];
            let _ = stream.read(&mut head);
            let _ = stream.write_all(format!("HTTP/1.0 200 OK\r\n\r\nasker={peer}").as_bytes());
        }
    });

    assert!(metadata_from(&a.path(), ip("192.168.1.30")).unwrap().ends_with("asker=192.168.1.30"));
    assert!(metadata_from(&b.path(), ip("192.168.1.31")).unwrap().ends_with("asker=192.168.1.31"));
    // A forges B's address: the namespace drops it (a timeout), so no instance can pass for another.
    sh("ip", &["-n", &a.ns, "address", "add", "192.168.1.31/32", "dev", "eth0"]);
    let forged = metadata_from(&a.path(), ip("192.168.1.31")).unwrap_err();
    assert_eq!(forged.kind(), std::io::ErrorKind::TimedOut, "{forged}");
    // Nor may it send other guests packets from an address that is not its own.
    sh("ip", &["-n", &a.ns, "address", "del", "192.168.1.31/32", "dev", "eth0"]);
    sh("ip", &["-n", &a.ns, "address", "add", "192.168.1.99/32", "dev", "eth0"]);
    let mut b = b;
    b.serve();
    let from = |source: Ipv4Addr| {
        netns::in_netns(&a.path(), move || -> std::io::Result<()> {
            use socket2::{Domain, Socket, Type};
            let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
            socket.bind(&SocketAddr::from((source, 0)).into())?;
            let target = SocketAddr::from((ip("192.168.1.31"), HTTP_PORT));
            socket.connect_timeout(&target.into(), Duration::from_millis(300))
        })
        .unwrap()
    };
    assert!(from(ip("192.168.1.30")).is_ok(), "from its own address A reaches B (same group)");
    let forged = from(ip("192.168.1.99")).unwrap_err();
    assert_eq!(forged.kind(), std::io::ErrorKind::TimedOut, "a forged source is not forwarded: {forged}");
}
