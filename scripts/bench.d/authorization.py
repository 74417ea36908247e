"""scripts/bench section "authorization": what RAM policy evaluation adds to a request.

Run by scripts/bench, which exports ECSLAB_BIN, BENCH_TMP, BENCH_N, BENCH_WARMUP. The section starts its own
`ecslab serve --driver fake` (evaluation is pure CPU work in the pipeline; no VM is involved) and, with the admin
account's root key, creates RAM users through the RAM API (signed by hand like every bench client): one per case,
each with custom policies holding S statements in all (at most 50 per policy: RAM's 6,144 characters), where the first S-1 allow other actions on other resources (so the
evaluator reads them all) and the last allows `ecs:DescribeRegions`. The policies are attached before timing, so the
first request loads and caches them; what is timed is the steady state.

The peer, measured in the same run and the same rounds, is the account's root key: it passes without any policy being
read ("0 statements"). Each round times one DescribeRegions per key, in turn, on keep-alive connections; the overhead
of S statements is p50(user with S) - p50(root). BENCH_AUTHZ_ROUNDS rounds (default 2000).
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TMP = os.environ["BENCH_TMP"]
BIN = os.environ["ECSLAB_BIN"]
ROUNDS = int(os.environ.get("BENCH_AUTHZ_ROUNDS", "2000"))
WARMUP = int(os.environ.get("BENCH_WARMUP", "3"))
SIZES = [1, 10, 100]
TARGET_MS = 0.2


PER_POLICY = 50  # RAM limits a policy document to 6,144 characters: larger sets span several policies


def documents(statements):
    """S statements over as many policies as RAM's size limit needs: S-1 that do not apply to DescribeRegions, then
    the one that allows it (last, so every statement is read)."""
    other = [{"Effect": "Allow", "Action": f"ecs:Describe{k}Things", "Resource": f"acs:ecs:*:*:instance/i-{k}"}
             for k in range(statements - 1)]
    every = other + [{"Effect": "Allow", "Action": "ecs:DescribeRegions", "Resource": "*"}]
    return [json.dumps({"Version": "1", "Statement": every[i:i + PER_POLICY]}, separators=(",", ":"))
            for i in range(0, len(every), PER_POLICY)]


def user_with(ram, endpoint, statements, name=None):
    name = name or f"bench-{statements}"
    ram.call("CreateUser", {"UserName": name})
    for i, doc in enumerate(documents(statements)):
        policy = f"{name}-p{i}"
        ram.call("CreatePolicy", {"PolicyName": policy, "PolicyDocument": doc})
        ram.call("AttachPolicyToUser", {"PolicyType": "Custom", "PolicyName": policy, "UserName": name})
    key = ram.call("CreateAccessKey", {"UserName": name})["AccessKey"]
    return bl.RpcClient(endpoint, key["AccessKeyId"], key["AccessKeySecret"])


def main():
    facts = bl.machine_facts(ROOT)
    facts["load_start"] = bl.loadavg()
    proc, endpoint, creds = bl.start_fake_server(BIN, TMP, "authz")
    try:
        root = bl.RpcClient(endpoint, creds["AccessKeyId"], creds["AccessKeySecret"])
        ram = bl.RpcClient(endpoint, creds["AccessKeyId"], creds["AccessKeySecret"], version="2015-05-01")
        clients = {"root": root}
        for s in SIZES:
            clients[s] = user_with(ram, endpoint, s)
        # The policy documents really are that long: the server parsed and stored them.
        for s in SIZES:
            listed = ram.call("ListPoliciesForUser", {"UserName": f"bench-{s}"})["Policies"]["Policy"]
            held = 0
            for p in listed:
                doc = ram.call("GetPolicy", {"PolicyType": "Custom", "PolicyName": p["PolicyName"]})
                held += len(json.loads(doc["DefaultPolicyVersion"]["PolicyDocument"])["Statement"])
            assert held == s, (s, held)
        for c in clients.values():
            for _ in range(WARMUP):
                assert c.call("DescribeRegions")["Regions"]
        samples = {k: [] for k in clients}
        for _ in range(ROUNDS):
            for k, c in clients.items():
                t0 = time.perf_counter()
                c.raw("DescribeRegions")
                samples[k].append(time.perf_counter() - t0)
        # A user without the statement is refused: the policies really are what decides.
        bare = user_with(ram, endpoint, 1, name="bench-bare")
        ram.call("DetachPolicyFromUser", {"PolicyType": "Custom", "PolicyName": "bench-bare-p0",
                                          "UserName": "bench-bare"})
        try:
            bare.call("DescribeRegions")
            raise SystemExit("a user with no policy was allowed DescribeRegions")
        except bl.ApiError as e:
            assert e.status == 403 and b"Forbidden.RAM" in e.body, e
        facts["load_end"] = bl.loadavg()
    finally:
        bl.stop_process(proc)
    print(render(facts, {k: bl.summary(v) for k, v in samples.items()}))


def render(facts, stats):
    ms = bl.fmt_ms
    base = stats["root"]
    lines = [
        "## Authorization: RAM policy evaluation per request",
        "",
        f"`ecslab serve --driver fake`, release build. DescribeRegions signed (RPC V1) with the account's root key (no "
        f"policy is read: the peer, \"0 statements\") and with the keys of RAM users whose custom policies hold S "
        f"statements in all, the last of which allows the call (so all S are evaluated). {ROUNDS} rounds, one call per key "
        f"per round in turn, keep-alive connections, timed until the reply is read. Overhead = p50(user) - p50(root).",
        "",
        f"Machine: {facts['cpu']}, {facts['cores']} cores, {facts['host_hypervisor'] or 'bare metal'} guest, kernel "
        f"{facts['kernel']}. {facts['date']}, commit {facts['commit']}. Load average at start {facts['load_start']}, "
        f"at the end {facts['load_end']}. Command: "
        f"`{os.environ.get('BENCH_COMMAND', 'scripts/bench --only authorization')}`.",
        "",
        "| key | statements evaluated | p50 ms | p99 ms | overhead p50 ms | ratio to root (p50) |",
        "|---|---|---|---|---|---|",
        f"| root key (peer) | 0 | {ms(base['p50'])} | {ms(base['p99'])} | - | x1.00 |",
    ]
    for s in SIZES:
        st = stats[s]
        lines.append(f"| RAM user | {s} | {ms(st['p50'])} | {ms(st['p99'])} | {st['p50'] - base['p50']:.3f} | "
                     f"x{st['p50'] / base['p50']:.2f} |")
    worst = stats[SIZES[-1]]["p50"] - base["p50"]
    verdict = "meets" if worst < TARGET_MS else "misses"
    lines += ["", f"At {SIZES[-1]} statements the overhead is {worst:.3f} ms per request: it {verdict} the "
              f"target of {TARGET_MS} ms."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
