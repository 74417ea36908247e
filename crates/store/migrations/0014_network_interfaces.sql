-- Instances on the network (issue 11): each instance's primary network interface (ENI) in a vSwitch, with its private
-- address, MAC and optional public address, and the security groups it is in. Addresses are unique where the network
-- needs them to be: a private address within its vSwitch, a MAC and a public address on the whole server.
CREATE TABLE IF NOT EXISTS network_interfaces (
    network_interface_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    instance_id TEXT NOT NULL,
    vpc_id TEXT NOT NULL,
    vswitch_id TEXT NOT NULL,
    zone_id TEXT NOT NULL,
    private_ip TEXT NOT NULL,
    mac TEXT NOT NULL,
    public_ip TEXT NOT NULL DEFAULT '',
    -- InternetMaxBandwidthOut as asked (Mbit/s; shown, not enforced).
    internet_max_bandwidth_out INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS network_interfaces_private_ip ON network_interfaces(vswitch_id, private_ip);
CREATE UNIQUE INDEX IF NOT EXISTS network_interfaces_mac ON network_interfaces(mac);
CREATE UNIQUE INDEX IF NOT EXISTS network_interfaces_public_ip ON network_interfaces(public_ip) WHERE public_ip <> '';
CREATE INDEX IF NOT EXISTS network_interfaces_instance ON network_interfaces(instance_id);
CREATE INDEX IF NOT EXISTS network_interfaces_account_order
    ON network_interfaces(account_id, created_at, network_interface_id);

CREATE TABLE IF NOT EXISTS interface_security_groups (
    network_interface_id TEXT NOT NULL,
    security_group_id TEXT NOT NULL,
    PRIMARY KEY (network_interface_id, security_group_id)
);
CREATE INDEX IF NOT EXISTS interface_security_groups_group ON interface_security_groups(security_group_id);

-- The group an instance joins when RunInstances names none: one per VPC, made on first use.
ALTER TABLE security_groups ADD COLUMN is_default INTEGER NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX IF NOT EXISTS security_groups_one_default ON security_groups(vpc_id) WHERE is_default = 1;
