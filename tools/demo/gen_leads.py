#!/usr/bin/env python3
"""gen_leads.py - deterministic demo data for the nurture lead-nurturing runtime.

What it makes (next to this script):

  leads.csv       ~400 B2B leads for a Chinese SaaS vendor selling CRM,
                  marketing automation and a customer data platform (CDP).
                  Header + one lead per physical line (no field ever holds a
                  newline, so "record N" is "physical line N+1").
  events.ndjson   ~1500 engagement events for those leads over the 60 days
                  before 2026-11-20, one JSON object per line.

Why: the demo, the importer's integration tests and the dedupe / identity
merge code all need input that looks like a real customer export - mixed
Chinese and English names, messy phone formats, emails with stray case and
spaces, several people per account, a few very engaged ("hot") leads and a
long tail of quiet ones - plus a handful of rows that are there on purpose to
exercise progressive profiling, identity merging and error reporting. Those
special rows are described where they are built (search for "SPECIAL ROWS")
and the script prints their exact line numbers when it runs.

Properties:
  * Python 3 standard library only; fixed seed, so the same script always
    writes byte-identical files (no clock, no locale, no tz database used).
  * UTF-8 without BOM, "\\n" line endings, RFC 4180 quoting via the csv module
    (fields with commas are quoted).  The five bad rows at the end are written
    as raw lines on purpose.
  * Event times are RFC 3339 with a +08:00 offset. Leads outside China act
    during their own working day, converted to +08:00.

Run:  python3 tools/demo/gen_leads.py        (from anywhere)

Caution: the phone numbers and the personal mailboxes (qq.com, 163.com,
gmail.com ...) are random and may belong to real people. Never point a
real mail / SMS / WeChat sender at this data set.
"""

import csv
import hashlib
import io
import json
import os
import random
from datetime import datetime, timedelta, timezone

SEED = 20261120
OUT_DIR = os.path.dirname(os.path.abspath(__file__))
LEADS_PATH = os.path.join(OUT_DIR, "leads.csv")
EVENTS_PATH = os.path.join(OUT_DIR, "events.ndjson")

N_BASE_LEADS = 365          # ordinary leads; specials are added on top
N_PROGRESSIVE = 10          # special case (a)
N_MERGE_PAIRS = 10          # special case (b), two rows each
N_EVENT_DUPLICATES = 20

COLUMNS = ["email", "phone", "name", "company", "title", "industry", "region",
           "product_interest", "timezone", "wechat_openid", "wechat_unionid",
           "crm_id", "anonymous_id", "source", "tags", "employees"]
IDENTITY_COLUMNS = ["email", "phone", "wechat_openid", "wechat_unionid",
                    "crm_id", "anonymous_id"]

VENDOR_SITE = "https://www.nurture-demo.cn"

CST = timezone(timedelta(hours=8))
WINDOW_END = datetime(2026, 11, 20, 0, 0, 0, tzinfo=CST)   # exclusive
WINDOW_DAYS = 60
WINDOW_START = WINDOW_END - timedelta(days=WINDOW_DAYS)    # 2026-09-21

rng = random.Random(SEED)

# --------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------

# (汉字, pinyin). Common surnames, roughly by frequency.
SURNAMES = [
    ("王", "wang"), ("李", "li"), ("张", "zhang"), ("刘", "liu"), ("陈", "chen"),
    ("杨", "yang"), ("黄", "huang"), ("赵", "zhao"), ("吴", "wu"), ("周", "zhou"),
    ("徐", "xu"), ("孙", "sun"), ("马", "ma"), ("朱", "zhu"), ("胡", "hu"),
    ("郭", "guo"), ("何", "he"), ("林", "lin"), ("高", "gao"), ("罗", "luo"),
    ("郑", "zheng"), ("梁", "liang"), ("谢", "xie"), ("宋", "song"), ("唐", "tang"),
    ("韩", "han"), ("冯", "feng"), ("邓", "deng"), ("曹", "cao"), ("彭", "peng"),
    ("曾", "zeng"), ("田", "tian"), ("董", "dong"), ("潘", "pan"), ("袁", "yuan"),
    ("蔡", "cai"), ("蒋", "jiang"), ("余", "yu"), ("杜", "du"), ("叶", "ye"),
    ("程", "cheng"), ("魏", "wei"), ("苏", "su"), ("丁", "ding"), ("沈", "shen"),
    ("任", "ren"), ("姚", "yao"), ("钟", "zhong"), ("崔", "cui"), ("谭", "tan"),
    ("陆", "lu"), ("范", "fan"), ("汪", "wang"), ("廖", "liao"), ("石", "shi"),
    ("金", "jin"), ("贾", "jia"), ("夏", "xia"), ("方", "fang"), ("邹", "zou"),
    ("熊", "xiong"), ("白", "bai"), ("孟", "meng"), ("秦", "qin"), ("邱", "qiu"),
    ("侯", "hou"), ("江", "jiang"), ("薛", "xue"), ("顾", "gu"), ("龚", "gong"),
    ("邵", "shao"), ("钱", "qian"), ("严", "yan"), ("戴", "dai"), ("孔", "kong"),
]
GIVEN_CHARS = [
    ("伟", "wei"), ("芳", "fang"), ("娜", "na"), ("敏", "min"), ("静", "jing"),
    ("丽", "li"), ("强", "qiang"), ("磊", "lei"), ("军", "jun"), ("洋", "yang"),
    ("勇", "yong"), ("艳", "yan"), ("杰", "jie"), ("娟", "juan"), ("涛", "tao"),
    ("明", "ming"), ("超", "chao"), ("霞", "xia"), ("平", "ping"), ("刚", "gang"),
    ("英", "ying"), ("华", "hua"), ("建", "jian"), ("文", "wen"), ("辉", "hui"),
    ("玲", "ling"), ("鹏", "peng"), ("宇", "yu"), ("浩", "hao"), ("晨", "chen"),
    ("婷", "ting"), ("雪", "xue"), ("琳", "lin"), ("欣", "xin"), ("怡", "yi"),
    ("佳", "jia"), ("子", "zi"), ("轩", "xuan"), ("涵", "han"), ("博", "bo"),
    ("思", "si"), ("雨", "yu"), ("嘉", "jia"), ("俊", "jun"), ("峰", "feng"),
    ("斌", "bin"), ("凯", "kai"), ("瑶", "yao"), ("晓", "xiao"), ("颖", "ying"),
    ("倩", "qian"), ("志", "zhi"), ("海", "hai"), ("云", "yun"), ("飞", "fei"),
    ("亮", "liang"), ("丹", "dan"), ("慧", "hui"), ("波", "bo"), ("宁", "ning"),
    ("鑫", "xin"), ("昊", "hao"), ("然", "ran"), ("晶", "jing"), ("璐", "lu"),
    ("彤", "tong"), ("悦", "yue"), ("哲", "zhe"), ("睿", "rui"), ("铭", "ming"),
    ("毅", "yi"), ("蕾", "lei"), ("薇", "wei"), ("洁", "jie"), ("东", "dong"),
    ("阳", "yang"), ("帆", "fan"), ("琦", "qi"), ("楠", "nan"), ("春", "chun"),
]
EN_FIRST = ["James", "Emily", "Michael", "Sarah", "David", "Jessica", "Daniel",
            "Laura", "Kevin", "Rachel", "Brian", "Olivia", "Ryan", "Sophie",
            "Andrew", "Hannah", "Chris", "Megan", "Thomas", "Grace", "Oliver",
            "Chloe", "Ethan", "Amelia", "Lucas", "Priya", "Arjun", "Wei Ling",
            "Marcus", "Natalie", "Jason", "Vivian", "Eric", "Cindy", "Tony",
            "Alice", "Frank", "Helen", "Peter", "Linda"]
EN_LAST = ["Smith", "Johnson", "Williams", "Brown", "Taylor", "Miller",
           "Wilson", "Moore", "Anderson", "Clark", "Lewis", "Walker", "Hall",
           "Young", "King", "Wright", "Scott", "Green", "Baker", "Adams",
           "Nelson", "Carter", "Mitchell", "Roberts", "Evans", "Turner",
           "Patel", "Nair", "Tan", "Lim", "Ng", "O'Brien", "Murphy", "Hughes"]
# English first names Chinese professionals commonly use at work.
EN_WORK_NAMES = ["Kevin", "Jason", "Eric", "Tony", "Vivian", "Cindy", "Alice",
                 "Frank", "Helen", "Peter", "Linda", "Leo", "Coco", "Jack",
                 "Amy", "Sunny", "Grace", "Ivy", "Allen", "Ken"]

# Industry slug -> (Chinese label, English label).  The industry column holds
# the Chinese label for Chinese companies and the English one otherwise, as a
# real merged export would; tags always use the slug (industry:<slug>).
INDUSTRIES = {
    "manufacturing": ("制造业", "Manufacturing"),
    "finance": ("金融", "Finance"),
    "retail": ("零售", "Retail"),
    "healthcare": ("医疗", "Healthcare"),
    "education": ("教育", "Education"),
    "saas": ("SaaS", "SaaS"),
    "logistics": ("物流", "Logistics"),
}
# Chinese company-name suffix and domain hint per industry.
ZH_SUFFIX = {
    "manufacturing": [("精密机械有限公司", "mfg"), ("智能装备股份有限公司", "ie"),
                      ("汽车零部件有限公司", "auto")],
    "finance": [("融资租赁有限公司", "lease"), ("金融信息服务有限公司", "fin"),
                ("保险经纪有限公司", "ins")],
    "retail": [("商贸有限公司", "trade"), ("零售连锁有限公司", "retail"),
               ("电子商务有限公司", "ec")],
    "healthcare": [("医疗器械有限公司", "med"), ("生物科技有限公司", "bio"),
                   ("健康管理有限公司", "health")],
    "education": [("教育科技有限公司", "edu"), ("教育咨询有限公司", "edu")],
    "saas": [("信息科技有限公司", "tech"), ("软件有限公司", "soft"),
             ("网络科技有限公司", "net")],
    "logistics": [("供应链管理有限公司", "scm"), ("物流有限公司", "logistics")],
}
# city -> (region, landline area code without the leading 0)
CITIES = {
    "上海": ("华东", "21"), "杭州": ("华东", "571"), "苏州": ("华东", "512"),
    "南京": ("华东", "25"), "宁波": ("华东", "574"), "无锡": ("华东", "510"),
    "北京": ("华北", "10"), "天津": ("华北", "22"),
    "深圳": ("华南", "755"), "广州": ("华南", "20"), "东莞": ("华南", "769"),
    "佛山": ("华南", "757"),
    "成都": ("西南", "28"), "重庆": ("西南", "23"),
    "武汉": ("华中", "27"),
}
CITY_WEIGHTS = {"上海": 14, "杭州": 6, "苏州": 5, "南京": 4, "宁波": 2,
                "无锡": 2, "北京": 12, "天津": 2, "深圳": 9, "广州": 6,
                "东莞": 2, "佛山": 2, "成都": 4, "重庆": 2, "武汉": 3}
BRANDS = [
    ("云启", "yunqi"), ("博远", "boyuan"), ("华信", "huaxin"), ("恒通", "hengtong"),
    ("鼎盛", "dingsheng"), ("海纳", "haina"), ("锦程", "jincheng"),
    ("星辰", "xingchen"), ("泰和", "taihe"), ("瑞丰", "ruifeng"),
    ("卓越", "zhuoyue"), ("明德", "mingde"), ("天衡", "tianheng"),
    ("宏图", "hongtu"), ("正元", "zhengyuan"), ("汇智", "huizhi"),
    ("新航", "xinhang"), ("同创", "tongchuang"), ("安泰", "antai"),
    ("青禾", "qinghe"), ("蓝海", "lanhai"), ("金桥", "jinqiao"),
    ("思源", "siyuan"), ("嘉禾", "jiahe"), ("长风", "changfeng"),
    ("远航", "yuanhang"), ("易联", "yilian"), ("数衡", "shuheng"),
    ("睿成", "ruicheng"), ("启明", "qiming"), ("中科联", "zhongkelian"),
    ("华峰", "huafeng"), ("德润", "derun"), ("融汇", "ronghui"),
    ("万象", "wanxiang"), ("优品", "youpin"), ("银河", "yinhe"),
    ("立达", "lida"), ("恒瑞达", "hengruida"), ("九州", "jiuzhou"),
    ("盛世", "shengshi"), ("晨曦", "chenxi"), ("力拓", "lituo"),
    ("凌云", "lingyun"), ("鸿运", "hongyun"), ("华恒", "huaheng"),
    ("信达", "xinda"), ("普惠", "puhui"), ("聚源", "juyuan"),
    ("智衡", "zhiheng"), ("东方", "dongfang"), ("新元", "xinyuan"),
    ("宝联", "baolian"), ("润禾", "runhe"), ("众诚", "zhongcheng"),
    ("海川", "haichuan"), ("天启", "tianqi"), ("金石", "jinshi"),
]
INDUSTRY_WEIGHTS = {"manufacturing": 26, "finance": 12, "retail": 16,
                    "healthcare": 10, "education": 8, "saas": 18,
                    "logistics": 6}

# Foreign / international accounts: name, domain, industry, region, timezone,
# phone country (None = do not invent phones), employees, email pattern.
# Several names contain commas so the csv writer must quote them.
EN_COMPANIES = [
    ("Northwind Traders, Inc.", "northwindtraders.com", "retail", "North America", "America/Los_Angeles", "US", 1200, "first.last"),
    ("Kestrel Software, Inc.", "kestrelsoftware.io", "saas", "North America", "America/Los_Angeles", "US", 350, "first"),
    ("Meridian Health Partners, LLC", "meridianhp.com", "healthcare", "North America", "America/Los_Angeles", "US", 4800, "flast"),
    ("Bluepeak Analytics", "bluepeak.ai", "saas", "North America", "America/Los_Angeles", "US", 85, "first"),
    ("Silverline Capital", "silverlinecap.com", "finance", "North America", "America/Los_Angeles", "US", 600, "first.last"),
    ("Cascade Components Corp.", "cascadecomponents.com", "manufacturing", "North America", "America/Los_Angeles", "US", 2100, "flast"),
    ("Tidewater Medical Ltd", "tidewatermedical.co.uk", "healthcare", "EMEA", "Europe/London", "UK", 900, "first.last"),
    ("Ashford Learning Ltd", "ashfordlearning.co.uk", "education", "EMEA", "Europe/London", "UK", 150, "first.last"),
    ("Harbour & Finch Retail plc", "harbourfinch.co.uk", "retail", "EMEA", "Europe/London", "UK", 3200, "flast"),
    ("Fabrikam Europe Ltd", "fabrikam.com", "manufacturing", "EMEA", "Europe/London", "UK", 7000, "first.last"),
    ("Greenfield Logistics Pte. Ltd.", "greenfieldlogistics.sg", "logistics", "APAC", "Asia/Singapore", None, 400, "first.last"),
    ("Orchid Bay Retail Pte Ltd", "orchidbay.com.sg", "retail", "APAC", "Asia/Singapore", None, 750, "first"),
    ("Lion City Fintech Pte. Ltd.", "lioncityfintech.sg", "finance", "APAC", "Asia/Singapore", None, 120, "first.last"),
    ("Contoso Asia Pacific", "contoso.com", "saas", "APAC", "Asia/Singapore", None, 2500, "first.last"),
]
# Foreign-owned companies operating in China: Chinese staff, English name.
EN_CN_COMPANIES = [
    ("Apex Precision Manufacturing (Suzhou) Co., Ltd.", "apexprecision.com", "manufacturing", "苏州", 1800, "first.last"),
    ("Brightwave Payments (Shanghai) Co., Ltd.", "brightwavepay.com", "finance", "上海", 260, "first.last"),
    ("Nordic Care Medical Devices (Shenzhen) Co., Ltd.", "nordiccare-med.com", "healthcare", "深圳", 540, "flast"),
    ("Evergreen Education Group", "evergreen-edu.com", "education", "北京", 3000, "first.last"),
]

# (title, function).  Function drives product interest and persona tag.
ZH_TITLES = [
    ("市场总监", "marketing"), ("市场经理", "marketing"), ("数字营销经理", "marketing"),
    ("品牌经理", "marketing"), ("会员运营主管", "marketing"), ("市场专员", "marketing"),
    ("销售总监", "sales"), ("销售运营经理", "sales"), ("大客户经理", "sales"),
    ("CRM经理", "sales"), ("客户成功经理", "sales"),
    ("IT经理", "it"), ("信息化总监", "it"), ("CIO", "it"), ("CTO", "it"),
    ("数据分析师", "data"), ("数据平台负责人", "data"), ("产品经理", "data"),
    ("采购经理", "procurement"), ("采购专员", "procurement"),
    ("总经理", "exec"), ("副总裁", "exec"), ("首席数字官", "exec"),
    ("运营总监", "exec"),
]
EN_TITLES = [
    ("Marketing Manager", "marketing"), ("Head of Marketing", "marketing"),
    ("VP, Marketing", "marketing"), ("Director of Demand Generation", "marketing"),
    ("Marketing Operations Specialist", "marketing"),
    ("Sales Operations Manager", "sales"), ("VP, Sales", "sales"),
    ("Account Director", "sales"),
    ("IT Manager", "it"), ("CTO", "it"), ("CIO", "it"),
    ("Head of Data", "data"), ("Data Engineer", "data"),
    ("Procurement Manager", "procurement"),
    ("CEO", "exec"), ("COO", "exec"), ("General Manager", "exec"),
]
FUNCTION_INTEREST = {
    "marketing": [("marketing_automation", 6), ("cdp", 3), ("crm", 1)],
    "sales": [("crm", 8), ("marketing_automation", 1), ("cdp", 1)],
    "it": [("cdp", 4), ("crm", 4), ("marketing_automation", 2)],
    "data": [("cdp", 8), ("crm", 1), ("marketing_automation", 1)],
    "procurement": [("crm", 4), ("marketing_automation", 3), ("cdp", 3)],
    "exec": [("crm", 4), ("marketing_automation", 3), ("cdp", 3)],
}
FUNCTION_PERSONA = {"exec": "decision_maker", "it": "technical",
                    "data": "technical", "procurement": "procurement",
                    "marketing": "practitioner", "sales": "practitioner"}

SOURCES = [("webinar", 14), ("whitepaper", 18), ("trade_show", 14),
           ("wechat_article", 14), ("seo", 16), ("referral", 8),
           ("paid_search", 16)]
SOURCE_TAG = {
    "webinar": "behaviour:registered_webinar",
    "whitepaper": "behaviour:downloaded_whitepaper",
    "trade_show": "event:martech_china_2026",
    "wechat_article": "behaviour:read_wechat_article",
    "seo": "behaviour:visited_pricing",
    "referral": "account:referred",
    "paid_search": "behaviour:visited_pricing",
}
EXTRA_TAGS = ["behaviour:visited_pricing", "behaviour:requested_demo",
              "behaviour:attended_webinar", "account:target",
              "account:existing_customer", "event:cmo_summit_2026"]

# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def wchoice(pairs):
    """Weighted choice from [(value, weight), ...]."""
    values = [p[0] for p in pairs]
    weights = [p[1] for p in pairs]
    return rng.choices(values, weights=weights, k=1)[0]


ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
B64URL = ALNUM + "-_"

used = {"email": set(), "phone": set(), "openid": set(), "unionid": set(),
        "crm": set(), "anon": set()}
# Identities that appear in the bad rows at the end of leads.csv are reserved
# so that no good row can own them by chance.
used["email"].update(["liu.yang@lanhai-trading.cn", "j.doe@acmewidgets.com"])
used["phone"].add("14155550177")


def unique(kind, make):
    """Call make() until it yields a value not used yet for this kind."""
    while True:
        v = make()
        key = v.strip().lower() if kind == "email" else v
        if key not in used[kind]:
            used[kind].add(key)
            return v


def new_openid():
    # Real openids for one official account share a prefix; 28 chars total.
    return unique("openid", lambda: "oX7a" + "".join(rng.choice(B64URL) for _ in range(24)))


def new_unionid():
    return unique("unionid", lambda: "uX" + "".join(rng.choice(B64URL) for _ in range(26)))


def new_crm_id():
    return unique("crm", lambda: "SF-%05d" % rng.randint(1, 99999))


def new_anon_id():
    return unique("anon", lambda: "anon-%016x" % rng.getrandbits(64))


def new_cn_mobile():
    """Returns (as written in the CSV, E.164) for a Chinese mobile."""
    def make():
        prefix = rng.choice(["130", "131", "132", "135", "136", "137", "138",
                             "139", "150", "151", "152", "155", "158", "159",
                             "166", "177", "180", "181", "186", "187", "188",
                             "189", "199"])
        return prefix + "%08d" % rng.randint(0, 99999999)
    d = unique("phone", lambda: "86" + make())[2:]
    fmt = wchoice([("spaced", 4), ("plus_dash", 3), ("plain", 5),
                   ("plus_plain", 2), ("dash", 2), ("plus_tight", 2)])
    written = {
        "spaced": "%s %s %s" % (d[:3], d[3:7], d[7:]),
        "plus_dash": "+86 %s-%s-%s" % (d[:3], d[3:7], d[7:]),
        "plain": d,
        "plus_plain": "+86 " + d,
        "dash": "%s-%s-%s" % (d[:3], d[3:7], d[7:]),
        "plus_tight": "+86" + d,
    }[fmt]
    return written, "+86" + d


def new_cn_landline(area):
    def make():   # all the cities used have 8-digit local numbers
        return "86" + area + str(rng.randint(2, 8)) + "%07d" % rng.randint(0, 9999999)
    canon = unique("phone", make)
    local = canon[2 + len(area):]
    fmt = rng.choice(["paren", "dash", "plus"])
    written = {
        "paren": "(0%s) %s %s" % (area, local[:4], local[4:]),
        "dash": "0%s-%s %s" % (area, local[:4], local[4:]),
        "plus": "+86 %s %s %s" % (area, local[:4], local[4:]),
    }[fmt]
    return written, None        # landlines are never used to key events


def new_us_phone():
    # 555-0100..0199 is reserved for fiction in the NANP.
    def make():
        return "1" + rng.choice(["415", "650", "408", "206", "310"]) + "55501" + "%02d" % rng.randint(0, 99)
    canon = unique("phone", make)
    area, tail = canon[1:4], canon[7:]
    # Foreign numbers always carry their country code: without it a parser
    # defaulting to China could not tell them apart from Chinese numbers
    # (UK "020 ..." is also Guangzhou's area code).
    fmt = rng.choice(["plus", "plus", "paren", "dash"])
    written = {
        "plus": "+1 %s 555 %s" % (area, tail),
        "paren": "+1 (%s) 555-%s" % (area, tail),
        "dash": "+1-%s-555-%s" % (area, tail),
    }[fmt]
    return written, "+" + canon


def new_uk_phone():
    # 020 7946 0000..0999 is Ofcom's drama range.
    canon = unique("phone", lambda: "44207946" + "0%03d" % rng.randint(0, 999))
    tail = canon[8:]
    written = rng.choice(["+44 20 7946 %s" % tail, "+44 (0)20 7946 %s" % tail])
    return written, "+" + canon


def ascii_name(s):
    return "".join(ch for ch in s.lower() if ch.isalpha())


def email_local(pattern, first, last):
    first, last = ascii_name(first), ascii_name(last)
    return {
        "first.last": "%s.%s" % (first, last),
        "last.first": "%s.%s" % (last, first),
        "firstlast": first + last,
        "lastfirst": last + first,
        "flast": first[0] + last,
        "first": first,
    }[pattern]


def make_company_email(company, first, last):
    base = email_local(company["pattern"], first, last)

    def make():
        # On a clash, companies append a digit (wei.zhang2@...).
        n = make.tries
        make.tries += 1
        return "%s%s@%s" % (base, "" if n == 0 else n + 1, company["domain"])
    make.tries = 0
    return unique("email", make)


def make_personal_email(first, last, chinese):
    def make():
        if chinese:
            kind = rng.choice(["qq", "163", "126", "pinyin_qq"])
            if kind == "qq":
                return "%d@qq.com" % rng.randint(10000000, 3999999999)
            if kind == "pinyin_qq":
                return "%s%s@qq.com" % (ascii_name(last), ascii_name(first))
            return "%s%s%d@%s.com" % (ascii_name(last), ascii_name(first),
                                     rng.randint(1975, 2001), kind)
        return "%s.%s%d@gmail.com" % (ascii_name(first), ascii_name(last), rng.randint(1, 99))
    return unique("email", make)


# --------------------------------------------------------------------------
# Companies
# --------------------------------------------------------------------------

def build_companies():
    companies = []
    seen = set()
    brands = BRANDS[:]
    rng.shuffle(brands)
    cities = list(CITY_WEIGHTS.items())
    industries = list(INDUSTRY_WEIGHTS.items())
    for brand_zh, brand_py in brands:
        for _ in range(2 if rng.random() < 0.45 else 1):
            city = wchoice(cities)
            ind = wchoice(industries)
            suffix, hint = rng.choice(ZH_SUFFIX[ind])
            name = city + brand_zh + suffix
            if name in seen:
                continue
            seen.add(name)
            region, area = CITIES[city]
            domain = "%s-%s.%s" % (brand_py, hint, rng.choice(["com", "cn", "com.cn"]))
            if domain in {c["domain"] for c in companies}:
                domain = "%s%s-%s.com" % (brand_py, ascii_name(city_pinyin(city))[:2], hint)
            companies.append(dict(
                name=name, domain=domain, industry=ind, region=region,
                tz="Asia/Shanghai", phone="CN", area=area, lang="zh",
                employees=rng.choice([30, 60, 80, 120, 150, 200, 300, 450,
                                      600, 800, 1200, 2000, 3500, 8000]),
                pattern=rng.choice(["firstlast", "lastfirst", "first.last",
                                    "last.first", "flast"]),
                weight=rng.choice([1, 1, 1, 2, 2, 3, 5])))
    for name, domain, ind, region, tz, phone, emp, pattern in EN_COMPANIES:
        companies.append(dict(name=name, domain=domain, industry=ind,
                              region=region, tz=tz, phone=phone, area=None,
                              lang="en", employees=emp, pattern=pattern,
                              weight=rng.choice([2, 3, 4])))
    for name, domain, ind, city, emp, pattern in EN_CN_COMPANIES:
        region, area = CITIES[city]
        companies.append(dict(name=name, domain=domain, industry=ind,
                              region=region, tz="Asia/Shanghai", phone="CN",
                              area=area, lang="cn_foreign", employees=emp,
                              pattern=pattern, weight=4))
    return companies


def city_pinyin(city):
    return {"上海": "shanghai", "杭州": "hangzhou", "苏州": "suzhou",
            "南京": "nanjing", "宁波": "ningbo", "无锡": "wuxi",
            "北京": "beijing", "天津": "tianjin", "深圳": "shenzhen",
            "广州": "guangzhou", "东莞": "dongguan", "佛山": "foshan",
            "成都": "chengdu", "重庆": "chongqing", "武汉": "wuhan"}[city]


# --------------------------------------------------------------------------
# Leads
# --------------------------------------------------------------------------

def make_person(company):
    """Returns (display name, first-for-email, last-for-email, is_chinese)."""
    if company["lang"] == "en":
        if rng.random() < 0.15 and company["region"] == "APAC":
            s, spy = rng.choice(SURNAMES)
            first = rng.choice(EN_WORK_NAMES)
            return "%s %s" % (first, spy.capitalize()), first, spy, False
        first, last = rng.choice(EN_FIRST), rng.choice(EN_LAST)
        return "%s %s" % (first, last), first, last, False
    s, spy = rng.choice(SURNAMES)
    given = [rng.choice(GIVEN_CHARS) for _ in range(1 if rng.random() < 0.35 else 2)]
    zh = s + "".join(g[0] for g in given)
    gpy = "".join(g[1] for g in given)
    english_chance = 0.35 if company["lang"] == "cn_foreign" else 0.08
    if rng.random() < english_chance:
        # Uses an English work name: "Kevin Zhang", email kevin.zhang@...
        first = rng.choice(EN_WORK_NAMES)
        return "%s %s" % (first, spy.capitalize()), first, spy, True
    return zh, gpy, spy, True


def messy_email(e):
    """Mixed case and/or surrounding spaces; the importer must normalise."""
    local, domain = e.split("@")
    parts = local.split(".")
    local = ".".join(p.capitalize() for p in parts) if rng.random() < 0.6 else local.upper()
    domain = domain.capitalize() if rng.random() < 0.5 else domain.upper()
    e = local + "@" + domain
    return rng.choice([" " + e, e + " ", " " + e + " ", e])


def make_tags(lead, func):
    tags = []
    if lead["product_interest"] and rng.random() < 0.5:
        tags.append("interest:" + lead["product_interest"])
    if rng.random() < 0.45:
        tags.append("industry:" + lead["_industry"])
    if rng.random() < 0.55:
        tags.append(SOURCE_TAG[lead["source"]])
    if rng.random() < 0.2:
        tags.append("persona:" + FUNCTION_PERSONA[func])
    if rng.random() < 0.2:
        tags.append(rng.choice(EXTRA_TAGS))
    out = []
    for t in tags:
        if t not in out:
            out.append(t)
    return out[:4]


def make_lead(company, messy=False):
    name, first, last, chinese = make_person(company)
    if company["lang"] == "en":
        title, func = rng.choice(EN_TITLES)
    elif rng.random() < (0.5 if company["lang"] == "cn_foreign" else 0.12):
        title, func = rng.choice(EN_TITLES)
    else:
        title, func = rng.choice(ZH_TITLES)
    blank_title = rng.random() < 0.08
    lead = {c: "" for c in COLUMNS}
    lead["_industry"] = company["industry"]
    lead["_func"] = func
    lead["name"] = name
    lead["company"] = company["name"]
    lead["title"] = "" if blank_title else title
    zh_label, en_label = INDUSTRIES[company["industry"]]
    lead["industry"] = zh_label if company["lang"] == "zh" else en_label
    lead["region"] = company["region"]
    lead["timezone"] = company["tz"]
    lead["product_interest"] = "" if rng.random() < 0.05 else wchoice(FUNCTION_INTEREST[func])
    lead["source"] = wchoice(SOURCES)
    while lead["source"] == "wechat_article" and company["tz"] != "Asia/Shanghai":
        lead["source"] = wchoice(SOURCES)
    lead["employees"] = str(company["employees"]) if rng.random() < 0.6 else ""
    lead["_e164"] = None

    # Identities.  Which ones a lead has depends a little on where it came
    # from: badge scans at trade shows often have a phone but no email,
    # WeChat article readers often only have an openid.
    src = lead["source"]
    p_email = 0.88
    if src == "trade_show":
        p_email = 0.72
    if src == "wechat_article":
        p_email = 0.55
    if rng.random() < p_email:
        if chinese and company["lang"] != "en" and rng.random() < 0.12:
            lead["email"] = make_personal_email(first, last, True)
        elif not chinese and rng.random() < 0.05:
            lead["email"] = make_personal_email(first, last, False)
        else:
            lead["email"] = make_company_email(company, first, last)
    p_phone = {"CN": 0.62, "US": 0.4, "UK": 0.35, None: 0.0}[company["phone"]]
    if src == "trade_show":
        p_phone = min(0.95, p_phone + 0.3)
    if rng.random() < p_phone:
        if company["phone"] == "CN":
            if rng.random() < 0.18:
                lead["phone"], lead["_e164"] = new_cn_landline(company["area"])
            else:
                lead["phone"], lead["_e164"] = new_cn_mobile()
        elif company["phone"] == "US":
            lead["phone"], lead["_e164"] = new_us_phone()
        else:
            lead["phone"], lead["_e164"] = new_uk_phone()
    if company["tz"] == "Asia/Shanghai":
        p_wx = 0.85 if src == "wechat_article" else 0.3
        if rng.random() < p_wx:
            lead["wechat_openid"] = new_openid()
            if rng.random() < 0.5:
                lead["wechat_unionid"] = new_unionid()
    if rng.random() < 0.2:
        lead["crm_id"] = new_crm_id()
    if rng.random() < 0.15 and (lead["email"] or lead["phone"] or lead["wechat_openid"]):
        # Ordinary rows never carry an anonymous_id alone; that shape is
        # reserved for the merge pairs below so they stay unambiguous.
        lead["anonymous_id"] = new_anon_id()
    if not any(lead[c] for c in IDENTITY_COLUMNS):
        lead["email"] = make_company_email(company, first, last)
    if messy and lead["email"]:
        lead["email"] = messy_email(lead["email"])
    lead["tags"] = ";".join(make_tags(lead, func))
    return lead


def build_leads(companies):
    weights = [c["weight"] for c in companies]
    base = []
    messy_at = set(rng.sample(range(N_BASE_LEADS), 9))
    for i in range(N_BASE_LEADS):
        company = rng.choices(companies, weights=weights, k=1)[0]
        lead = make_lead(company, messy=i in messy_at)
        lead["_kind"] = "base"
        lead["_pos"] = float(i)
        base.append(lead)
    return base


# ---------------------------------------------------------------- SPECIAL ROWS
#
# (a) PROGRESSIVE PROFILING - N_PROGRESSIVE rows that repeat an earlier lead's
#     email (three of them with different case / surrounding spaces, so the
#     match only works after normalising) and supply a field the first row left
#     blank: a phone (first row had none), a title (first row had none) or the
#     employee count.  The importer should fill the blanks on the existing lead,
#     not create a new one.  These rows carry only email, name, company (both
#     identical to the first row), the new field(s), and a source + one tag
#     of their own (a later touch); every other column is blank.
#
# (b) IDENTITY MERGE - N_MERGE_PAIRS pairs.  Row X has nothing but a fresh
#     anonymous_id (a website visitor the tracker saw).  A later row Y carries
#     that same anonymous_id together with an email that an even earlier,
#     ordinary row A already owns (the visitor filled a gated form).  Row Y
#     therefore ties lead X to lead A: the importer must merge them into one
#     lead.  A is always before Y, X is always before Y.
#
# (c) BAD ROWS - the last five physical lines, written raw (see write_leads):
#     an invalid email, an invalid phone, a short row, a long row (an unquoted
#     comma in the company name) and a row with no identity.  No unterminated
#     quote: that would swallow the rest of the file.


def case_variant(email, k):
    local, domain = email.split("@")
    return [" " + email.upper() + " ",
            local.capitalize() + "@" + domain.capitalize(),
            email + "  "][k]


def add_progressive(base):
    rows = []
    cands_phone = [l for l in base if l["email"] and not l["phone"]
                   and l["timezone"] == "Asia/Shanghai" and l["email"] == l["email"].strip().lower()]
    cands_title = [l for l in base if l["email"] and not l["title"]
                   and l["email"] == l["email"].strip().lower()]
    picked = []
    picked += rng.sample([l for l in cands_title if l["_pos"] < 300], 4)
    pool = [l for l in cands_phone if l not in picked and l["_pos"] < 300]
    picked += rng.sample(pool, N_PROGRESSIVE - 4)
    for n, orig in enumerate(picked):
        orig["_special"] = "progressive_target"
        row = {c: "" for c in COLUMNS}
        row["_kind"] = "progressive"
        row["_orig"] = orig
        variant = {1: 0, 5: 1, 8: 2}.get(n)
        row["email"] = orig["email"] if variant is None else case_variant(orig["email"], variant)
        row["name"] = orig["name"]
        row["company"] = orig["company"]
        added = []
        if not orig["title"]:
            if orig["company"] in {c[0] for c in EN_COMPANIES}:
                row["title"], _ = rng.choice(EN_TITLES)
            else:
                row["title"], _ = rng.choice(ZH_TITLES)
            added.append("title")
        if not orig["phone"] and orig["timezone"] == "Asia/Shanghai" \
                and (n >= 4 or rng.random() < 0.5):
            row["phone"], _ = new_cn_mobile()
            added.append("phone")
        if not orig["employees"] and rng.random() < 0.6:
            emp = next(c for c in COMPANIES if c["name"] == orig["company"])["employees"]
            row["employees"] = str(emp)
            added.append("employees")
        row["source"] = rng.choice(["webinar", "whitepaper", "trade_show"])
        row["tags"] = SOURCE_TAG[row["source"]]
        row["_added"] = added
        row["_pos"] = rng.uniform(orig["_pos"] + 5, N_BASE_LEADS)
        rows.append(row)
    return rows


def add_merge_pairs(base):
    rows = []
    cands = [l for l in base if l["email"] and "_special" not in l
             and not l["anonymous_id"] and l["_pos"] < 280 and l["email"] == l["email"].strip().lower()]
    for a in rng.sample(cands, N_MERGE_PAIRS):
        a["_special"] = "merge_target"
        anon = new_anon_id()
        x = {c: "" for c in COLUMNS}
        x["_kind"] = "merge_anon"
        x["anonymous_id"] = anon
        x["source"] = rng.choice(["seo", "paid_search"])
        x["product_interest"] = a["product_interest"]
        x["timezone"] = a["timezone"]
        x["tags"] = "behaviour:visited_pricing" if rng.random() < 0.6 else ""
        x["_pos"] = rng.uniform(0, 320)
        y = {c: "" for c in COLUMNS}
        y["_kind"] = "merge_link"
        y["email"] = a["email"]
        y["anonymous_id"] = anon
        y["name"] = a["name"]
        y["company"] = a["company"]
        y["source"] = "whitepaper"
        y["tags"] = "behaviour:downloaded_whitepaper"
        y["_pos"] = rng.uniform(max(a["_pos"], x["_pos"]) + 3, N_BASE_LEADS + 1)
        y["_a"], y["_x"] = a, x
        rows += [x, y]
    return rows


# Raw bad lines.  Each is a single physical line; the comment is what is wrong.
BAD_ROWS = [
    # 1. invalid email, and it is the row's only identity
    ("bad_email", "bad-email@,,赵敏,杭州博远电子商务有限公司,市场经理,零售,华东,"
                  "marketing_automation,Asia/Shanghai,,,,,seo,interest:marketing_automation,"),
    # 2. invalid phone, and it is the row's only identity
    ("bad_phone", ",12ab,钱宇,北京天衡软件有限公司,IT经理,SaaS,华北,cdp,Asia/Shanghai,"
                  ",,,,trade_show,event:martech_china_2026,200"),
    # 3. 15 fields instead of 16 (employees column missing); valid email
    ("short_row", "liu.yang@lanhai-trading.cn,,刘洋,宁波蓝海商贸有限公司,采购经理,零售,华东,"
                  "crm,Asia/Shanghai,,,,,referral,interest:crm"),
    # 4. 17 fields instead of 16: unquoted comma in the company name; valid email
    ("long_row", "j.doe@acmewidgets.com,+1 415 555 0177,Jane Doe,Acme Widgets, Inc.,"
                 "Marketing Manager,Manufacturing,North America,marketing_automation,"
                 "America/Los_Angeles,,,,,paid_search,interest:marketing_automation,450"),
    # 5. no identity at all (all six identity columns blank)
    ("no_identity", ",,孙丽,深圳汇智信息科技有限公司,市场总监,SaaS,华南,"
                    "marketing_automation,Asia/Shanghai,,,,,wechat_article,"
                    "behaviour:read_wechat_article,120"),
]


# --------------------------------------------------------------------------
# Events
# --------------------------------------------------------------------------

CAMPAIGNS = {"welcome": 4, "nurture_crm": 5, "nurture_ma": 5,
             "nurture_cdp": 5, "webinar_invite": 2, "newsletter_2026_10": 1,
             "newsletter_2026_11": 1}
INTEREST_CAMPAIGN = {"crm": "nurture_crm", "marketing_automation": "nurture_ma",
                     "cdp": "nurture_cdp", "": "welcome"}
PAGES = {
    "crm": ["/products/crm", "/products/crm/sales-pipeline", "/cases/manufacturing",
            "/blog/crm-implementation-checklist"],
    "marketing_automation": ["/products/marketing-automation",
                             "/products/marketing-automation/journeys",
                             "/cases/retail", "/blog/b2b-lead-scoring"],
    "cdp": ["/products/cdp", "/products/cdp/identity-resolution",
            "/cases/finance", "/blog/first-party-data-2026"],
    "": ["/", "/about", "/blog"],
}
COMMON_PAGES = ["/", "/customers", "/blog", "/resources", "/about"]
HOT_PAGES = ["/pricing", "/demo", "/security", "/integrations/wecom"]
ASSETS = {
    "crm": ("crm-roi-calculator", "CRM投资回报测算表"),
    "marketing_automation": ("whitepaper-b2b-ma-2026", "2026 B2B营销自动化白皮书"),
    "cdp": ("cdp-buyers-guide", "CDP选型指南"),
    "": ("case-study-manufacturing", "制造业数字化营销案例集"),
}
WEBINARS = [  # id, start (+08:00), topic
    ("wb-2026-09-30-crm-basics", datetime(2026, 9, 30, 14, 0, tzinfo=CST), "CRM 基础：销售过程数字化"),
    ("wb-2026-10-15-cdp-101", datetime(2026, 10, 15, 14, 0, tzinfo=CST), "CDP 入门：打通全渠道客户数据"),
    ("wb-2026-10-29-ma-playbook", datetime(2026, 10, 29, 15, 0, tzinfo=CST), "B2B 营销自动化实战手册"),
    ("wb-2026-11-12-crm-ai", datetime(2026, 11, 12, 14, 0, tzinfo=CST), "AI 驱动的 CRM：线索评分与预测"),
]


def utc_offset_hours(tz, day):
    """Offset of tz on a date in this window (hard-coded DST, no tz database)."""
    if tz == "Europe/London":
        return 1 if day < datetime(2026, 10, 25, tzinfo=CST) else 0
    if tz == "America/Los_Angeles":
        return -7 if day < datetime(2026, 11, 1, tzinfo=CST) else -8
    return 8


def random_time(lead, recent_bias=False):
    """A moment inside the window during the lead's local working day, +08:00."""
    while True:
        u = rng.random()
        if recent_bias:
            u = u ** 0.55          # hot leads warm up towards the end
        day = WINDOW_START + timedelta(days=int(u * WINDOW_DAYS))
        # Golden Week (Oct 1-7): Chinese leads are mostly offline.
        if lead["timezone"] == "Asia/Shanghai" and day.month == 10 and day.day <= 7 \
                and rng.random() < 0.75:
            continue
        if day.weekday() >= 5 and rng.random() < 0.7:
            continue
        local_hour = wchoice([(h, 1) for h in (8, 19, 20, 21, 22)] +
                             [(h, 4) for h in range(9, 18)])
        t = day + timedelta(hours=local_hour, minutes=rng.randint(0, 59),
                            seconds=rng.randint(0, 59))
        t -= timedelta(hours=utc_offset_hours(lead["timezone"], day) - 8)
        if WINDOW_START <= t < WINDOW_END:
            return t


def fmt_time(t):
    return t.astimezone(CST).strftime("%Y-%m-%dT%H:%M:%S+08:00")


class EventMaker:
    def __init__(self):
        self.events = []
        self.seq = 0

    def add(self, lead, etype, t, props, channel, ref=None):
        if not (WINDOW_START <= t < WINDOW_END):
            return False
        if ref is None:
            ref = self.pick_ref(lead, etype)
        if ref is None:
            return False
        self.seq += 1
        h = hashlib.sha1(("%d|%s|%s|%s|%s" % (self.seq, ref, etype, fmt_time(t),
                                              json.dumps(props, sort_keys=True))).encode()).hexdigest()
        ev = {ref[0]: ref[1], "type": etype, "at": fmt_time(t), "props": props,
              "dedupe_key": "%s-%s" % (channel, h[:20])}
        self.events.append((t, ev))
        return True

    @staticmethod
    def pick_ref(lead, etype):
        email = lead["email"].strip().lower()
        if etype.startswith("email."):
            return ("email", email) if email else None
        if etype == "wechat.followed":
            return ("wechat_openid", lead["wechat_openid"]) if lead["wechat_openid"] else None
        opts = []
        if email:
            opts.append((("email", email), 8))
        if lead["_e164"]:
            opts.append((("phone", lead["_e164"]), 1))
        if lead["wechat_openid"]:
            opts.append((("wechat_openid", lead["wechat_openid"]), 1))
        return wchoice(opts) if opts else None


def lead_events(em, lead, target, hot):
    interest = lead["product_interest"]
    n0 = len(em.events)
    did_wechat = did_demo = False
    webinars_done = set()
    tries = 0
    while len(em.events) - n0 < target and tries < 400:
        tries += 1
        t = random_time(lead, recent_bias=hot)
        kind = wchoice([("browse", 5), ("email", 5 if lead["email"] else 0),
                        ("download", 1.5), ("webinar", 1.2),
                        ("demo", 1.5 if hot and not did_demo else 0),
                        ("wechat", 3 if lead["wechat_openid"] and not did_wechat else 0)])
        if kind == "browse":
            pages = PAGES[interest] + COMMON_PAGES + (HOT_PAGES * 2 if hot else ["/pricing"])
            for _ in range(rng.randint(1, 4 if hot else 2)):
                em.add(lead, "page.viewed", t, {"url": VENDOR_SITE + rng.choice(pages)}, "web")
                t += timedelta(seconds=rng.randint(20, 400))
        elif kind == "email":
            camp = INTEREST_CAMPAIGN[interest] if rng.random() < 0.6 else rng.choice(list(CAMPAIGNS))
            step = rng.randint(1, CAMPAIGNS[camp])
            em.add(lead, "email.opened", t, {"campaign": camp, "step": step}, "esp")
            if rng.random() < (0.5 if hot else 0.25):
                t += timedelta(seconds=rng.randint(15, 1800))
                url = VENDOR_SITE + rng.choice(PAGES[interest] + ["/pricing", "/resources"])
                url += "?utm_source=email&utm_campaign=%s" % camp
                em.add(lead, "email.clicked", t, {"campaign": camp, "step": step, "url": url}, "esp")
        elif kind == "download":
            asset, topic = ASSETS[interest] if rng.random() < 0.7 else rng.choice(list(ASSETS.values()))
            em.add(lead, "page.viewed", t, {"url": VENDOR_SITE + "/resources/" + asset}, "web")
            t += timedelta(seconds=rng.randint(30, 240))
            em.add(lead, "form.submitted", t, {"form": "whitepaper", "topic": topic}, "form")
            t += timedelta(seconds=rng.randint(2, 20))
            em.add(lead, "content.downloaded", t, {"asset": asset}, "web")
        elif kind == "webinar":
            upcoming = [w for w in WEBINARS if w[1] > t + timedelta(hours=12)
                        and w[0] not in webinars_done]
            if not upcoming:
                continue
            wid, start, topic = upcoming[0] if rng.random() < 0.7 else rng.choice(upcoming)
            webinars_done.add(wid)
            em.add(lead, "form.submitted", t, {"form": "webinar_signup", "topic": topic}, "form")
            em.add(lead, "webinar.registered", t + timedelta(seconds=1), {"webinar": wid}, "webinar")
            if rng.random() < (0.8 if hot else 0.5):
                joined = start + timedelta(minutes=rng.randint(-3, 12), seconds=rng.randint(0, 59))
                em.add(lead, "webinar.attended", joined,
                       {"webinar": wid, "minutes": rng.randint(45, 90) if hot else rng.randint(5, 75)},
                       "webinar")
        elif kind == "demo":
            did_demo = True
            em.add(lead, "page.viewed", t, {"url": VENDOR_SITE + "/demo"}, "web")
            t += timedelta(seconds=rng.randint(40, 300))
            product = {"crm": "CRM", "marketing_automation": "营销自动化", "cdp": "CDP"}.get(interest, "CRM")
            em.add(lead, "form.submitted", t, {"form": "demo_request", "topic": product + " 产品演示"}, "form")
        elif kind == "wechat":
            did_wechat = True
            em.add(lead, "wechat.followed", t,
                   {"scene": rng.choice(["qr_code", "article", "search"])}, "wx")


def build_events(base):
    em = EventMaker()
    eligible = [l for l in base if l["email"] or l["_e164"] or l["wechat_openid"]]
    hot = rng.sample([l for l in eligible if l["email"] and l["product_interest"]], 8)
    rest = [l for l in eligible if l not in hot]
    warm = rng.sample(rest, 40)
    for lead in eligible:
        if lead in hot:
            n, is_hot = rng.randint(70, 95), True
        elif lead in warm:
            n, is_hot = rng.randint(7, 13), False
        else:
            n, is_hot = wchoice([(0, 5), (1, 4), (2, 2), (3, 1)]), False
        lead["_hot"] = is_hot
        lead_events(em, lead, n, is_hot)
    em.events.sort(key=lambda p: (p[0], p[1]["dedupe_key"]))
    lines = [json.dumps(ev, ensure_ascii=False, separators=(", ", ": ")) for _, ev in em.events]

    # ~20 exact duplicates (same dedupe_key, byte-identical line): half are
    # immediate retries, half are replays that arrive later, out of order.
    dup_src = sorted(rng.sample(range(len(lines)), N_EVENT_DUPLICATES), reverse=True)
    for k, i in enumerate(dup_src):
        at = i + 1 if k % 2 == 0 else min(len(lines), i + rng.randint(5, 200))
        lines.insert(at, lines[i])
    return lines, hot


# --------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------

def write_leads(rows):
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS)
    for r in rows:
        w.writerow([r[c] for c in COLUMNS])
    for _, raw in BAD_ROWS:
        buf.write(raw + "\n")
    with open(LEADS_PATH, "w", encoding="utf-8", newline="") as f:
        f.write(buf.getvalue())


def main():
    global COMPANIES
    COMPANIES = build_companies()
    base = build_leads(COMPANIES)
    specials = add_progressive(base) + add_merge_pairs(base)
    rows = sorted(base + specials, key=lambda r: r["_pos"])
    for i, r in enumerate(rows):
        r["_line"] = i + 2                       # header is line 1
    write_leads(rows)
    lines, hot = build_events(base)
    with open(EVENTS_PATH, "w", encoding="utf-8", newline="") as f:
        f.write("\n".join(lines) + "\n")

    first_bad = len(rows) + 2
    print("leads.csv: %d lines (header + %d good rows + %d bad rows)"
          % (len(rows) + 1 + len(BAD_ROWS), len(rows), len(BAD_ROWS)))
    print("  ordinary leads: %d" % len(base))
    print("  (a) progressive-profiling repeats: %d" % N_PROGRESSIVE)
    for r in rows:
        if r["_kind"] == "progressive":
            print("      line %3d repeats line %3d (%r), adds %s"
                  % (r["_line"], r["_orig"]["_line"], r["email"], "+".join(r["_added"])))
    print("  (b) merge pairs: %d (anon-only row X, later row Y = same anon + email of earlier row A)"
          % N_MERGE_PAIRS)
    for r in rows:
        if r["_kind"] == "merge_link":
            print("      A line %3d  X line %3d  Y line %3d  %s  %s"
                  % (r["_a"]["_line"], r["_x"]["_line"], r["_line"], r["anonymous_id"], r["email"]))
    print("  (c) bad rows:")
    for k, (what, _) in enumerate(BAD_ROWS):
        print("      line %3d  %s" % (first_bad + k, what))
    print("events.ndjson: %d lines, %d unique dedupe_keys, %d exact duplicates"
          % (len(lines), len(set(json.loads(l)["dedupe_key"] for l in lines)), N_EVENT_DUPLICATES))
    print("  hot leads: " + ", ".join("%s (line %d)" % (h["email"].strip().lower(), h["_line"]) for h in hot))


if __name__ == "__main__":
    main()
