-- Networking's control plane (issue 11): VPCs, vSwitches, security groups and their rules. Rows only: the data path
-- (bridges, DHCP, nftables) reads them later. Every row carries its account; each list has its list-order index.
CREATE TABLE IF NOT EXISTS vpcs (
    vpc_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    -- Canonical IPv4 CIDR (network address, prefix).
    cidr_block TEXT NOT NULL,
    -- Pending or Available.
    status TEXT NOT NULL,
    is_default INTEGER NOT NULL DEFAULT 0,
    vrouter_id TEXT NOT NULL,
    route_table_id TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS vpcs_account_order ON vpcs(account_id, created_at, vpc_id);
-- At most one default VPC per account (the region is the server's).
CREATE UNIQUE INDEX IF NOT EXISTS vpcs_one_default ON vpcs(account_id) WHERE is_default = 1;

CREATE TABLE IF NOT EXISTS vswitches (
    vswitch_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    vpc_id TEXT NOT NULL,
    zone_id TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    cidr_block TEXT NOT NULL,
    status TEXT NOT NULL,
    is_default INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS vswitches_account_order ON vswitches(account_id, created_at, vswitch_id);
CREATE INDEX IF NOT EXISTS vswitches_vpc ON vswitches(vpc_id);

CREATE TABLE IF NOT EXISTS security_groups (
    security_group_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    vpc_id TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    -- normal (enterprise is refused at the API).
    group_type TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS security_groups_account_order ON security_groups(account_id, created_at, security_group_id);
CREATE INDEX IF NOT EXISTS security_groups_vpc ON security_groups(vpc_id);

CREATE TABLE IF NOT EXISTS security_group_rules (
    rule_id TEXT PRIMARY KEY,
    security_group_id TEXT NOT NULL,
    -- ingress or egress.
    direction TEXT NOT NULL,
    -- TCP, UDP, ICMP or ALL.
    ip_protocol TEXT NOT NULL,
    -- "from/to", e.g. 22/22 or -1/-1.
    port_range TEXT NOT NULL,
    -- The other end: a canonical CIDR, or a security group (exactly one is set).
    peer_cidr TEXT NOT NULL DEFAULT '',
    peer_group_id TEXT NOT NULL DEFAULT '',
    -- Accept or Drop.
    policy TEXT NOT NULL,
    priority INTEGER NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS security_group_rules_group ON security_group_rules(security_group_id, direction, created_at);
CREATE INDEX IF NOT EXISTS security_group_rules_peer_group ON security_group_rules(peer_group_id);
