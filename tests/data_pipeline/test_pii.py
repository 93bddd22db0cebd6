"""The pii stage (issue 23 item 6): personal data replaced, look-alikes left alone, counts in stats.json."""

import gzip
import json

import pytest

from data_pipeline.config import compose_pipeline_config
from data_pipeline.errors import UserError
from data_pipeline.pii import PiiConfig, PiiStage, replace_pii
from data_pipeline.pii.detect import id_number_valid, luhn_valid
from data_pipeline.run import main
from data_pipeline.stage import ShardInfo

SHARD = ShardInfo(0, 1, "00000")

# Real-looking pages: a contact block, a support forum post, a server log excerpt (numbers made up; the ID is
# GB 11643's own example, the card numbers pass Luhn).
CONTACT = ("联系我们：北京市海淀区中关村大街27号。客服热线 010-62751234，传真 (0755)86012345，"
           "手机 138 1234 5678 或 +86 13912345678，邮箱 service.team@example.com.cn。")
FORUM = ("我的身份证号是11010519491231002X，工资卡 6222 0212 3456 7890 128 被冻结了，"
         "请联系 zhang_wei+bank@163.com 或打 0086-15012345678。")
LOG = "Accepted password for root from 58.217.200.37 port 22; peer 2001:4860:4860::8888 joined; gw 192.168.1.1"


@pytest.mark.parametrize("text, expected, counts", [
    (CONTACT, "联系我们：北京市海淀区中关村大街27号。客服热线 [PHONE]，传真 [PHONE]，手机 [PHONE] 或 [PHONE]，"
              "邮箱 [EMAIL]。", {"cn_landline": 2, "cn_mobile": 2, "email": 1}),
    (FORUM, "我的身份证号是[ID_NUMBER]，工资卡 [BANK_CARD] 被冻结了，请联系 [EMAIL] 或打 [PHONE]。",
     {"cn_id": 1, "bank_card": 1, "email": 1, "cn_mobile": 1}),
    (LOG, "Accepted password for root from [IP] port 22; peer [IP] joined; gw 192.168.1.1", {"ipv4": 1, "ipv6": 1}),
])
def test_personal_data_is_replaced_and_counted(text, expected, counts):
    assert replace_pii(text) == (expected, counts)


LOOKALIKES = [
    "订单号：13812345678，运单号 15098765432，型号 SN13812345678-B，货号 JD13912345678。",  # order/model codes
    "ISBN 978-7-111-54742-6，ISSN 1000-3428，专利号 ZL201510123456.7，条码 6901234567892。",
    "发布时间 2024-01-15 10:30:00，时间戳 1700000000 / 1700000000000，耗时 12:30:45.123。",
    "Chrome 120.0.6099.109，版本 2.0.0.1，v1.2.3.4，OID 1.3.6.1.4.1.311，MAC 00:1A:2B:3C:4D:5E。",
    "淘宝订单编号 2034567891234567890，物流单号 SF1234567890123，流水号 110105194912310021。",  # 18 digits: bad check
    "图片 icon@2x.png 与 logo@3x.jpg，C++ 的 std::vector，Perl 的 Foo::Bar::baz，比值 1::2。",
    "产品编码 6222021234567890128；1234 5678 9012 3456 不是卡号（前缀与校验都不对）。",
    "本地测试请访问 127.0.0.1:8080 或 10.0.0.1，文档地址 2001:db8::1，出生于19491231。",
    "齿式是：上颚1-3.1.4.2；下颚3.1.4.2-3（zh-wiki），见第 3.1.4.2 节。",  # dotted numbers, not a host
    '<!-- All in One SEO Pack 2.3.11.4 --> {"fly/libs/easy-xdm":"2.4.17.1", "hls":"hls@0.8.9.js"}',  # real pages
    "身份证样式但日期不对：110105194913310021；长号 11010519491231002X9 不是身份证。",
]


@pytest.mark.parametrize("text", LOOKALIKES)
def test_lookalikes_are_left_alone(text):
    assert replace_pii(text) == (text, {})


def test_validators():
    assert id_number_valid("11010519491231002X") and id_number_valid("11010519491231002x")
    assert not id_number_valid("110105194912310021")  # wrong check character
    assert not id_number_valid("110105194902300026")  # 30 February
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")


def test_only_listed_kinds_and_private_ips_on_request():
    assert replace_pii(FORUM, kinds=("email",))[1] == {"email": 1}
    assert replace_pii("gw 192.168.1.1", public_ips_only=False) == ("gw [IP]", {"ipv4": 1})
    with pytest.raises(UserError, match="unknown kinds"):
        PiiStage(PiiConfig(kinds=["email", "passport"]))


def test_hostile_text_is_fast_and_unchanged():
    for text in ["f:" * 50000, "1." * 50000, "a@" + "b." * 50000, "\ud800" + "1" * 10000 + "\x00"]:
        assert replace_pii(text)[0] == text


def test_pipeline_counts_each_kind_in_stats(tmp_path, write_lines, clean_records):
    records = [{**clean_records[0], "text": clean_records[0]["text"] + "\n" + CONTACT},
               {**clean_records[1], "text": clean_records[1]["text"] + "\n" + FORUM}, *clean_records[2:]]
    data = write_lines("a.jsonl", records)
    out = tmp_path / "out"
    assert compose_pipeline_config([f"output.dir={out}"]).pii.enabled is False  # opt-in
    assert main([f"input.paths=[{data}]", f"output.dir={out}", "executor.workers=1", "executor.progress=false",
                 "pii.enabled=true"]) == 0
    stats = json.loads((out / "stats.json").read_text())
    assert stats["pii"] == {"bank_card": {"docs": 1, "replaced": 1}, "cn_id": {"docs": 1, "replaced": 1},
                            "cn_landline": {"docs": 1, "replaced": 2}, "cn_mobile": {"docs": 2, "replaced": 3},
                            "email": {"docs": 2, "replaced": 2}}
    assert stats["by_language"]["zh"]["pii"]["cn_id"] == {"docs": 1, "replaced": 1}
    kept = {r["id"]: r for p in (out / "kept").glob("*.gz") for line in gzip.open(p, "rt") for r in [json.loads(line)]}
    forum = kept[records[1]["id"]]
    assert "[ID_NUMBER]" in forum["text"] and "11010519491231002X" not in forum["text"]
    assert forum["meta"]["pii"] == {"email": 1, "cn_id": 1, "bank_card": 1, "cn_mobile": 1}
