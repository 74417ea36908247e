"""DescribeInstances through the SDK: both paging styles, filters, and the
`Instances.Instance` wrapping the SDK model needs (a wrong shape gives `body=None` silently).
The instances are made with CreateInstance, which leaves them Stopped: no VM boots here."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from alibabacloud_ecs20140526 import models as m

import labkit
from labkit import REGION

COUNT = 5


@pytest.fixture(scope="module")
def fleet(lab):
    """COUNT Stopped instances named `pg<uid>-<n>`; tag group=a on the first three, b on the rest."""
    client = lab.client()
    prefix = f"pg{uuid.uuid4().hex[:8]}"
    ids = []
    try:
        for n in range(COUNT):
            group = "a" if n < 3 else "b"
            ids.append(labkit.create_instance(
                client, lab.image_id, instance_name=f"{prefix}-{n}", description=f"paging test {n}",
                tag=[m.CreateInstanceRequestTag(key="group", value=group),
                     m.CreateInstanceRequestTag(key="owner", value=prefix)]))
        yield prefix, ids
    finally:
        for iid in ids:
            try:
                client.delete_instance(m.DeleteInstanceRequest(instance_id=iid))
            except Exception as e:
                print(f"deleting {iid} failed: {e}")


def describe(ecs, **kw):
    resp = ecs.describe_instances(m.DescribeInstancesRequest(region_id=REGION, **kw))
    assert resp.status_code == 200
    assert resp.body is not None, "the SDK could not map the reply onto its model"
    assert resp.body.instances is not None, "Instances must be wrapped as {'Instance': [...]}"
    assert resp.body.request_id
    return resp.body


def test_create_instance_leaves_it_stopped(ecs, fleet):
    prefix, ids = fleet
    body = describe(ecs, instance_ids=json.dumps(ids[:1]))
    (inst,) = body.instances.instance
    assert inst.instance_id == ids[0]
    assert inst.status == "Stopped"
    assert inst.instance_name == f"{prefix}-0"
    assert inst.description == "paging test 0"
    assert inst.start_time == ""
    assert {t.tag_key: t.tag_value for t in inst.tags.tag} == {"group": "a", "owner": prefix}


def test_page_number_paging(ecs, fleet):
    prefix, ids = fleet
    seen = []
    for page, expected in [(1, 2), (2, 2), (3, 1)]:
        body = describe(ecs, instance_name=f"{prefix}-*", page_number=page, page_size=2)
        assert body.total_count == COUNT
        assert body.page_number == page
        assert body.page_size == 2
        assert len(body.instances.instance) == expected
        seen += [i.instance_id for i in body.instances.instance]
    assert sorted(seen) == sorted(ids) and len(set(seen)) == COUNT
    beyond = describe(ecs, instance_name=f"{prefix}-*", page_number=4, page_size=2)
    assert beyond.instances.instance == [] and beyond.total_count == COUNT


def test_next_token_paging(ecs, fleet):
    prefix, ids = fleet
    seen, token, pages = [], None, 0
    while True:
        body = describe(ecs, instance_name=f"{prefix}-*", max_results=2, next_token=token)
        pages += 1
        assert len(body.instances.instance) <= 2
        seen += [i.instance_id for i in body.instances.instance]
        token = body.next_token
        if not token:
            break
        assert pages < 10, "NextToken paging does not end"
    assert pages == 3
    assert sorted(seen) == sorted(ids) and len(set(seen)) == COUNT


def test_bad_next_token_is_refused(ecs, fleet):
    e = labkit.sdk_error(ecs.describe_instances, m.DescribeInstancesRequest(
        region_id=REGION, max_results=2, next_token="not-a-token"))
    assert (e.code, e.status_code) == ("InvalidParameter", 400)


def test_filters(lab, ecs, fleet):
    prefix, ids = fleet
    pattern = f"{prefix}-*"
    assert {i.instance_id for i in describe(ecs, instance_name=pattern, status="Stopped").instances.instance} == set(ids)
    assert describe(ecs, instance_name=pattern, status="Running").instances.instance == []
    assert [i.instance_id for i in describe(ecs, instance_name=f"{prefix}-3").instances.instance] == [ids[3]]
    assert {i.instance_id for i in describe(ecs, instance_name=f"*{prefix[2:]}-*").instances.instance} == set(ids)

    by_tag = describe(ecs, tag=[m.DescribeInstancesRequestTag(key="owner", value=prefix),
                                m.DescribeInstancesRequestTag(key="group", value="a")])
    assert {i.instance_id for i in by_tag.instances.instance} == set(ids[:3])
    assert by_tag.total_count == 3
    key_only = describe(ecs, tag=[m.DescribeInstancesRequestTag(key="owner", value=prefix),
                                  m.DescribeInstancesRequestTag(key="group")])
    assert {i.instance_id for i in key_only.instances.instance} == set(ids)

    by_ids = describe(ecs, instance_ids=json.dumps([ids[1], ids[4], "i-doesnotexist"]))
    assert {i.instance_id for i in by_ids.instances.instance} == {ids[1], ids[4]}

    assert {i.instance_id for i in describe(ecs, instance_name=pattern, instance_type="ecs.lab.tiny",
                                            image_id=lab.image_id).instances.instance} == set(ids)
    assert describe(ecs, instance_name=pattern, instance_type="ecs.lab.large").instances.instance == []


def test_unknown_status_filter(ecs, fleet):
    e = labkit.sdk_error(ecs.describe_instances, m.DescribeInstancesRequest(region_id=REGION, status="Flying"))
    assert e.code == "InvalidStatus.NotFound"


def test_describe_instance_status(ecs, fleet):
    prefix, ids = fleet
    body = ecs.describe_instance_status(m.DescribeInstanceStatusRequest(region_id=REGION, instance_id=ids[:2])).body
    assert body is not None and body.instance_statuses is not None
    assert {(s.instance_id, s.status) for s in body.instance_statuses.instance_status} == {(ids[0], "Stopped"), (ids[1], "Stopped")}
    assert body.total_count == 2


def test_catalogue_region_zone_image(lab, ecs):
    types = ecs.describe_instance_types(m.DescribeInstanceTypesRequest()).body.instance_types.instance_type
    by_id = {t.instance_type_id: t for t in types}
    assert {"ecs.lab.tiny", "ecs.lab.small", "ecs.lab.medium", "ecs.lab.large", "ecs.lab-headless.tiny"} <= set(by_id)
    assert by_id["ecs.lab.tiny"].cpu_core_count == 1
    assert by_id["ecs.lab.tiny"].memory_size == 0.125

    regions = ecs.describe_regions(m.DescribeRegionsRequest()).body.regions.region
    assert [r.region_id for r in regions] == [REGION]
    zones = ecs.describe_zones(m.DescribeZonesRequest(region_id=REGION)).body.zones.zone
    assert [z.zone_id for z in zones] == [f"{REGION}-a"]

    images = ecs.describe_images(m.DescribeImagesRequest(region_id=REGION, image_id=lab.image_id)).body
    assert [(i.image_id, i.status) for i in images.images.image] == [(lab.image_id, "Available")]


def test_amount_with_unique_suffix(fake_lab):
    """RunInstances Amount=3 UniqueSuffix=True: three instances named NAME001..NAME003 (fake driver:
    no VM boots)."""
    client = fake_lab.client()
    ids = client.run_instances(m.RunInstancesRequest(
        region_id=REGION, image_id=fake_lab.image_id, instance_type="ecs.lab.tiny", instance_name="multi",
        amount=3, unique_suffix=True)).body.instance_id_sets.instance_id_set
    try:
        assert len(set(ids)) == 3
        names = {i.instance_id: i.instance_name for i in labkit.list_instances(client, instance_name="multi*")}
        assert set(names) == set(ids)
        assert sorted(names.values()) == ["multi001", "multi002", "multi003"]
        assert [names[i] for i in ids] == ["multi001", "multi002", "multi003"], "ids follow the suffix order"
    finally:
        for iid in ids:
            labkit.force_delete(client, iid)


def test_next_token_survives_deletion_of_the_last_item(fake_lab):
    """Page 1 ends with instance T; T is deleted; page 2 (NextToken of page 1) must continue with
    the instances listed after T, as the server promises ("continue after where it sorted")."""
    client = fake_lab.client()
    prefix = f"nt{uuid.uuid4().hex[:6]}"
    ids: list[str] = []
    try:
        order = case = None
        for round_ in range(20):
            # Two instances per wall-clock second: CreationTime has one-second resolution and ties
            # are listed by id, so listing order differs from id order across seconds.
            for _ in range(2):
                ids.append(labkit.create_instance(client, fake_lab.image_id, instance_name=f"{prefix}-{len(ids)}"))
            order = [i.instance_id for i in labkit.list_instances(client, instance_name=f"{prefix}-*")]
            case = _paging_case(order)
            if case:
                break
            time.sleep(1.05)
        # Random ids make such an arrangement all but certain after a few seconds; never pass untested.
        assert case, f"no id arrangement that exercises the continuation after 20 s: {order}"
        k = case
        first = client.describe_instances(m.DescribeInstancesRequest(
            region_id=REGION, instance_name=f"{prefix}-*", max_results=k)).body
        assert [i.instance_id for i in first.instances.instance] == order[:k]
        assert first.next_token
        client.delete_instance(m.DeleteInstanceRequest(instance_id=order[k - 1]))
        ids.remove(order[k - 1])
        second = client.describe_instances(m.DescribeInstancesRequest(
            region_id=REGION, instance_name=f"{prefix}-*", max_results=k, next_token=first.next_token)).body
        got = [i.instance_id for i in second.instances.instance]
        assert got == order[k:2 * k], f"listing {order}, page size {k}, deleted {order[k - 1]}: got {got}"
    finally:
        for iid in ids:
            labkit.force_delete(client, iid)


def _paging_case(order: list[str]) -> int | None:
    """A page size k for which continuing by id comparison differs from continuing by position."""
    for k in range(1, len(order)):
        last = order[k - 1]
        rest = order[:k - 1] + order[k:]
        by_id = next((n for n, iid in enumerate(rest) if iid > last), len(rest))
        if by_id != k - 1:
            return k
    return None
