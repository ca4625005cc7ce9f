"""Pool shapes of the seed deals, from their stratification tables (for the simulator).

Each dimension is a list of buckets ``(low, high, weight)``: a loan draws a bucket with probability
proportional to ``weight``, then a value uniformly in ``[low, high]`` (both inclusive). Balances
are weighted by the **number of loans** in the seed's table; rates, terms and seasoning by the
bucket's **outstanding principal**: the dimensions are drawn independently of the balance, so
this makes the *balance-weighted* averages (the ones the seeds state, and the ones that drive
the cash flows) come out right. Units are integers, so every draw is an integer:

* balances in **fen** (``Bucket(5_000_001, 10_000_000, …)`` = RMB 50,000.01 – 100,000.00);
* annual interest rates in **millionths** (``41_800`` = 0.0418 = 4.18%);
* terms and seasoning in **months**.

The dimensions are drawn independently (the seeds publish only marginals), then reconciled: the
remaining term is ``original term − seasoning`` kept inside the pool's range of remaining terms.
Where a table's open-ended bucket has no stated bound we use the pool's stated extreme, or a bound
chosen so the bucket's mean matches the table's average — marked **[derived]**. Line numbers
``Lnnnn`` are lines of the seed file named in ``seed``; the extracts in ``../shared/domain/``
cite the same lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ledger.core.amortisation import Amortization


@dataclass(frozen=True, slots=True)
class Bucket:
    """``weight`` loans with a value in ``[low, high]`` (inclusive); ``source`` = seed line(s)."""

    low: int
    high: int
    weight: int
    source: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolProfile:
    """The shape of a seed deal's pool at its cut-off date.

    Terms come either from ``original_term_months`` (then remaining = original − seasoning) or,
    when a seed tabulates remaining terms but not original ones, from ``remaining_term_months``
    (then original = remaining + seasoning, capped at ``max_original_term``).
    """

    key: str
    deal: str
    seed: str
    cut_off: date
    loan_id_prefix: str
    outstanding_fen: tuple[Bucket, ...]
    rate_millionths: tuple[Bucket, ...]
    seasoning_months: tuple[Bucket, ...]
    original_term_months: tuple[Bucket, ...] | None = None
    remaining_term_months: tuple[Bucket, ...] | None = None
    remaining_term_range: tuple[int, int]
    max_original_term: int | None = None
    amortization: tuple[tuple[Amortization, int], ...]
    payment_days: tuple[int, int]
    shared_borrower_per_million: int
    """Chance (per million loans) that a loan belongs to the previous loan's borrower."""
    pool_loans: int
    pool_balance: str
    notes: str


DRIVER_CHINA_13 = PoolProfile(
    key="001",
    deal="Driver China Thirteen (VW Finance (China), 2021)",
    seed="../shared/seeds/001_ba0536900540a84a.txt",
    cut_off=date(2021, 6, 30),  # Initial Cut-Off Date, L10530 / L19088
    loan_id_prefix="DC13-",
    # Outstanding principal balance table, L4603-L4619 (loans per bucket). Minimum balance
    # 3,740.82 (L4393-L4395). The "> 400,000" bucket's upper bound 731,209.22 is [derived] so that
    # its uniform mean equals the table's average 565,604.61 (L4619); the pool maximum 2,576,301.60
    # would make the bucket's mean far too high.
    outstanding_fen=(
        Bucket(374_082, 5_000_000, 42_927, "L4603"),
        Bucket(5_000_001, 10_000_000, 41_871, "L4605"),
        Bucket(10_000_001, 15_000_000, 10_818, "L4607"),
        Bucket(15_000_001, 20_000_000, 4_812, "L4609"),
        Bucket(20_000_001, 25_000_000, 2_117, "L4611"),
        Bucket(25_000_001, 30_000_000, 964, "L4613"),
        Bucket(30_000_001, 35_000_000, 433, "L4615"),
        Bucket(35_000_001, 40_000_000, 307, "L4617"),
        Bucket(40_000_001, 73_120_922, 815, "L4619 [derived upper bound]"),
    ),
    # Effective interest rate table, L5048-L5072, weighted by the bucket's outstanding principal
    # (RMB, 7th column) so the balance-weighted average rate matches the stated 4.18% (L5088); by
    # count, 46.97% of loans are at exactly 0% (dealer-subsidised, L19841-L19859) but they are
    # small. Maximum rate 15.39% (L5083). The (0%, 5%] bucket is drawn from 3.90%-5.00%
    # [derived]: the other buckets at their midpoints contribute 3.13 points of the 4.18%, which
    # leaves a mean of about 4.45% for this bucket.
    rate_millionths=(
        Bucket(0, 0, 2_388_277_156, "L5048"),
        Bucket(39_000, 50_000, 1_894_086_545, "L5050 [derived range]"),
        Bucket(50_001, 60_000, 1_337_570_524, "L5052"),
        Bucket(60_001, 70_000, 1_166_697_578, "L5054"),
        Bucket(70_001, 80_000, 725_682_897, "L5056"),
        Bucket(80_001, 90_000, 271_021_530, "L5058"),
        Bucket(90_001, 100_000, 149_309_749, "L5060"),
        Bucket(100_001, 110_000, 4_435_912, "L5062"),
        Bucket(110_001, 120_000, 45_328_203, "L5064"),
        Bucket(120_001, 130_000, 16_750_200, "L5066"),
        Bucket(130_001, 140_000, 9_872_012, "L5068"),
        Bucket(140_001, 150_000, 2_020_256, "L5070"),
        Bucket(150_001, 153_900, 2_769_748, "L5072 (max 15.39%, L5083)"),
    ),
    # Original term table, L5618-L5626, weighted by outstanding principal; range 12-60 months
    # (L4411-L4413). Each bucket is drawn at its whole-year term (12, 24, ... 60) [assumed: the
    # products are sold in whole years, L1957-L2106], which gives a WA original term of 34.6
    # against the stated 34.86 (L4411).
    original_term_months=(
        Bucket(12, 12, 81_600_977, "L5618"),
        Bucket(24, 24, 3_111_459_406, "L5620"),
        Bucket(36, 36, 3_525_301_317, "L5622"),
        Bucket(48, 48, 261_443_569, "L5624"),
        Bucket(60, 60, 1_034_017_046, "L5626"),
    ),
    # Seasoning table, L5775-L5783, weighted by outstanding principal; range 2-54 months
    # (L4415-L4417); WA 6.74 (L4415).
    seasoning_months=(
        Bucket(2, 12, 7_100_390_538, "L5775"),
        Bucket(13, 24, 824_296_162, "L5777"),
        Bucket(25, 36, 88_283_747, "L5779"),
        Bucket(37, 48, 806_245, "L5781"),
        Bucket(49, 54, 45_623, "L5783"),
    ),
    # Remaining term range 6-58 months (L4407-L4409; warranty (l), L13742-L13822); the remaining-
    # term table L5927-L5935 is matched only approximately (it follows from term - seasoning).
    remaining_term_range=(6, 58),
    # All loans pay by direct debit in equal instalments ("Classic Credit", L1957-L2106; type of
    # payment table L6074). The 397 balloon loans (0.38%, L6185-L6211) are modelled as annuities.
    amortization=((Amortization.ANNUITY, 1),),
    payment_days=(1, 28),  # not disclosed: assumed uniform over 1..28
    # 105,064 contracts, 102,919 borrowers (L4381-L4383): about 2.04% of loans share a borrower.
    shared_borrower_per_million=20_416,
    pool_loans=105_064,
    pool_balance="8013822317.49",  # undiscounted outstanding principal, L4391
    notes="DRB (5.1371%, 30/360) is the deal's pool measure; see ledger.core.amortisation.",
)


BYD_2021_2 = PoolProfile(
    key="004",
    deal="盛世融迪 2021-2 (BYD Auto Finance green auto-loan ABS)",
    seed="../shared/seeds/004_44c3f86071f01b83.txt",
    cut_off=date(2021, 6, 18),  # initial cut-off date: pool "截至2021年6月18日0:00时", L1402
    loan_id_prefix="BYD212-",
    # 贷款未偿本金余额分布, L1552-L1556 (loans per bucket); minimum 0.31万 = 3,100.00 (L1413),
    # maximum 23.75万 = 237,500.00 (L1412).
    outstanding_fen=(
        Bucket(310_000, 5_000_000, 1_589, "L1552"),
        Bucket(5_000_001, 10_000_000, 7_893, "L1553"),
        Bucket(10_000_001, 15_000_000, 11_749, "L1554"),
        Bucket(15_000_001, 20_000_000, 1_354, "L1555"),
        Bucket(20_000_001, 23_750_000, 165, "L1556"),
    ),
    # 贷款执行利率分布, L1534-L1536, weighted by outstanding principal (万元 x 100): 0-5%
    # 231,665.57万; 5-10% 3,630.08万; 10-15% 39.19万 (max 11.06%, L1432). 83.63% of the balance
    # is zero-coupon (L2109): 196,810.53万 [derived]; the other 34,855.04万 of the 0-5% bucket is
    # drawn from 3.50%-5.00% [derived] so the weighted average rate is near the stated 0.74%
    # (L1431) rather than the ~0.45% a uniform 0-5% draw would give.
    rate_millionths=(
        Bucket(0, 0, 19_681_053, "L2109 [derived]"),
        Bucket(35_000, 50_000, 3_485_504, "L1534 [derived range]"),
        Bucket(50_001, 100_000, 363_008, "L1535"),
        Bucket(100_001, 110_600, 3_919, "L1536 (max 11.06%, L1432)"),
    ),
    # 合同期限分布, L1496-L1499, weighted by outstanding principal; each bucket at its whole-year
    # term [assumed]; original term 1-4 years (eligibility, seed004_byd.md §5.9). WA 34.6 against
    # the stated 34.52 (L1422).
    original_term_months=(
        Bucket(12, 12, 119_183, "L1496"),
        Bucket(24, 24, 4_446_757, "L1497"),
        Bucket(36, 36, 17_024_426, "L1498"),
        Bucket(48, 48, 1_943_119, "L1499"),
    ),
    # 贷款账龄分布, L1506-L1508, weighted by outstanding principal; WA 4.03 (L1424).
    seasoning_months=(
        Bucket(1, 6, 21_950_338, "L1506"),
        Bucket(7, 12, 1_547_290, "L1507"),
        Bucket(13, 18, 35_856, "L1508"),
    ),
    remaining_term_range=(1, 47),  # L1425-L1426
    # 还本方式, L1562-L1563: 等额本息 (annuity) 4,800 loans, 等额本金 (level principal) 17,950.
    amortization=((Amortization.ANNUITY, 4_800), (Amortization.LEVEL_PRINCIPAL, 17_950)),
    payment_days=(1, 28),  # not disclosed: assumed uniform over 1..28
    shared_borrower_per_million=44,  # 22,750 loans, 22,749 borrowers (L1405, L1408)
    pool_loans=22_750,
    pool_balance="2353348391.45",  # L1410, L56
    notes="Near-zero-coupon pool (WAC 0.74%); level principal dominates.",
)


# Seed 002 figures are quoted from the Lianhe rating report as extracted in
# ../shared/domain/seed002_003_ratings.md §A8 (lines "002:Lnnn" of the seed file); amounts in 万元.
XINRONG_2024_1 = PoolProfile(
    key="002",
    deal="欣荣 2024-1 (Ruifude auto-mortgage loans)",
    seed="../shared/seeds/002_7834a69be68216cb.txt",
    cut_off=date(2024, 1, 1),  # 初始起算日, 002:L30
    loan_id_prefix="XR241-",
    # 表4 OPB bands, 002:L459-L464 (loans): (0,5]万 31,108; (5,10] 17,147; (10,15] 2,422;
    # (15,50] 54, whose top is the pool maximum 35.12万 (002:L455). Minimum RMB 1,000.00 from the
    # eligibility criteria (balance >= RMB 1,000, seed002_003_ratings.md §A4.5 (m)).
    outstanding_fen=(
        Bucket(100_000, 5_000_000, 31_108, "002:L460"),
        Bucket(5_000_001, 10_000_000, 17_147, "002:L461"),
        Bucket(10_000_001, 15_000_000, 2_422, "002:L462"),
        Bucket(15_000_001, 35_120_000, 54, "002:L463 (max 35.12万, 002:L455)"),
    ),
    # 表6 loan rate, 002:L500-L508, weighted by OPB (万元 x 100); range 0.00%-14.99% (002:L495).
    # The [0%, 9%] bucket is drawn from 0%-5.44% [derived]: the other buckets at their midpoints
    # give 6.75 of the stated 7.88% WA rate, leaving a mean of about 2.72% for this bucket.
    rate_millionths=(
        Bucket(0, 54_400, 10_025_931, "002:L501 [derived range]"),
        Bucket(90_001, 100_000, 2_726_936, "002:L502"),
        Bucket(100_001, 110_000, 2_999_764, "002:L503"),
        Bucket(110_001, 120_000, 2_606_027, "002:L504"),
        Bucket(120_001, 130_000, 3_081_818, "002:L505"),
        Bucket(130_001, 140_000, 1_952_389, "002:L506"),
        Bucket(140_001, 149_900, 735_288, "002:L507 (max 14.99%)"),
    ),
    # 表8 seasoning in years, 002:L533-L543, weighted by OPB, converted to months.
    seasoning_months=(
        Bucket(1, 3, 2_435_687, "002:L534"),
        Bucket(4, 6, 6_690_311, "002:L535"),
        Bucket(7, 12, 8_579_743, "002:L536"),
        Bucket(13, 18, 1_809_262, "002:L537"),
        Bucket(19, 24, 683_184, "002:L538"),
        Bucket(25, 30, 2_607_208, "002:L539"),
        Bucket(31, 36, 1_079_694, "002:L540"),
        Bucket(37, 48, 242_336, "002:L541"),
        Bucket(49, 60, 726, "002:L542"),
    ),
    # 表9 remaining term in years, 002:L553-L564, weighted by OPB, converted to months; range
    # 0.25-4.84 years = 3-58 months (表3).
    remaining_term_months=(
        Bucket(3, 6, 866_394, "002:L554"),
        Bucket(7, 12, 2_851_742, "002:L555"),
        Bucket(13, 18, 3_045_551, "002:L556"),
        Bucket(19, 24, 6_280_712, "002:L557"),
        Bucket(25, 30, 5_335_956, "002:L558"),
        Bucket(31, 36, 2_677_068, "002:L559"),
        Bucket(37, 42, 132_424, "002:L560"),
        Bucket(43, 48, 237_032, "002:L561"),
        Bucket(49, 54, 1_085_284, "002:L562"),
        Bucket(55, 58, 1_615_988, "002:L563"),
    ),
    remaining_term_range=(3, 58),
    max_original_term=60,  # original term 1-5 years (eligibility (o))
    amortization=((Amortization.ANNUITY, 1),),  # all 按月等额本息, 002:L570
    payment_days=(1, 28),  # not disclosed: assumed uniform over 1..28
    shared_borrower_per_million=7_274,  # 50,731 loans, 50,362 borrowers (表3)
    pool_loans=50_731,
    pool_balance="2412815100.00",  # 241,281.51万 (表3, 002:L426-L441)
    notes="Monthly level-payment auto loans; one revolving purchase (not simulated).",
)


# Seed 003 figures are quoted from the Lianhe rating report as extracted in
# ../shared/domain/seed002_003_ratings.md §B8 (lines "003:Lnnn" of the seed file); amounts in 万元.
WENHUI_2024_1 = PoolProfile(
    key="003",
    deal="温惠 2024-1 (Bank of Wenzhou small-business loans)",
    seed="../shared/seeds/003_09954ff0e849b840.txt",
    cut_off=date(2024, 1, 2),  # 初始起算日 2024-01-02 0:00, 003:L30
    loan_id_prefix="WH241-",
    # 表3 OPB bands, 003:L448-L454 (loans); maximum 500.00万 (003:L444); minimum RMB 3,000.00,
    # the smallest principal eligible at origination (criterion (q), 003:L174).
    outstanding_fen=(
        Bucket(300_000, 100_000_000, 742, "003:L449"),
        Bucket(100_000_001, 200_000_000, 684, "003:L450"),
        Bucket(200_000_001, 300_000_000, 373, "003:L451"),
        Bucket(300_000_001, 400_000_000, 78, "003:L452"),
        Bucket(400_000_001, 500_000_000, 37, "003:L453"),
    ),
    # 表6 rate, 003:L491-L496, weighted by OPB (万元 x 100); range 3.50%-8.10% (003:L487).
    rate_millionths=(
        Bucket(35_000, 40_000, 5_057_725, "003:L492"),
        Bucket(40_001, 50_000, 17_875_885, "003:L493"),
        Bucket(50_001, 60_000, 5_331_660, "003:L494"),
        Bucket(60_001, 81_000, 594_260, "003:L495"),
    ),
    # 表7 seasoning, 003:L506-L512, weighted by OPB.
    seasoning_months=(
        Bucket(1, 6, 6_307_375, "003:L507"),
        Bucket(7, 12, 14_177_539, "003:L508"),
        Bucket(13, 18, 7_505_356, "003:L509"),
        Bucket(19, 24, 869_260, "003:L511"),
    ),
    # 表8 remaining term, 003:L522-L527, weighted by OPB; range 1.61-23.64 months (表2).
    remaining_term_months=(
        Bucket(2, 6, 13_489_937, "003:L523"),
        Bucket(7, 12, 6_524_358, "003:L524"),
        Bucket(13, 18, 1_474_173, "003:L525"),
        Bucket(19, 24, 7_371_062, "003:L526"),
    ),
    remaining_term_range=(2, 24),
    max_original_term=37,  # loan term 4-37 months, criterion (p), 003:L174
    # interest paid periodically, principal in one payment at maturity: criterion (r), 003:L174
    amortization=((Amortization.BULLET, 1),),
    payment_days=(20, 21),  # [assumed]: maturities run from the 20th/21st (criterion (n))
    shared_borrower_per_million=78_892,  # 1,914 loans, 1,763 borrowers (表2, 003:L412-L432)
    pool_loans=1_914,
    pool_balance="2885952900.00",  # 288,595.29万 (003:L159)
    notes="Bullet small-business loans: interest monthly [assumed], principal at maturity.",
)


# Seed 000 is an investor deck for an auto-lease ABN; its pool tables (L242-L498) give counts and
# balances in RMB; extract: ../shared/domain/seed000_lease_abn.md §8.
ALL_TRUST_LEASE_2023_2 = PoolProfile(
    key="000",
    deal="Heying Commercial Factoring 2023-2 All-Trust auto lease ABN (WeShare)",
    seed="../shared/seeds/000_139427f42ec51208.txt",
    cut_off=date(2023, 7, 18),  # cut-off 00:00, 18 July 2023 (seed000_lease_abn.md §8a, L242)
    loan_id_prefix="AT232-",
    # OPB size, L308-L314 (contracts). Maximum 77.31万 = 773,100.00 (L250); the "Above 300,000"
    # bucket's top 555,126.00 is [derived] so its uniform mean equals its average 427,562.74
    # (21,378,136.79 / 50, L314). Minimum not stated: RMB 1,000.00 [assumed].
    outstanding_fen=(
        Bucket(100_000, 5_000_000, 2_860, "L308"),
        Bucket(5_000_001, 10_000_000, 2_647, "L309"),
        Bucket(10_000_001, 15_000_000, 1_023, "L310"),
        Bucket(15_000_001, 20_000_000, 160, "L311"),
        Bucket(20_000_001, 25_000_000, 97, "L312"),
        Bucket(25_000_001, 30_000_000, 37, "L313"),
        Bucket(30_000_001, 55_512_600, 50, "L314 [derived upper bound]"),
    ),
    # Return on asset, L458-L463, weighted by balance (RMB); maximum 18.88% (L253). The [0, 8%]
    # bucket is drawn from 0%-1.18% [derived]: the other buckets at their midpoints give 6.38 of
    # the stated 6.64% WA rate (after manufacturer subsidies, L251), leaving a mean of about 0.59%
    # for it (mostly subsidised zero-rate leases).
    rate_millionths=(
        Bucket(0, 11_800, 173_531_709, "L458 [derived range]"),
        Bucket(80_001, 100_000, 89_971_340, "L459"),
        Bucket(100_001, 120_000, 14_869_305, "L460"),
        Bucket(120_001, 140_000, 64_814_286, "L461"),
        Bucket(140_001, 160_000, 41_770_715, "L462"),
        Bucket(160_001, 188_800, 1_132_719, "L463 (max 18.88%, L253)"),
    ),
    # Original term, L493-L497, weighted by balance (terms are whole years).
    original_term_months=(
        Bucket(12, 12, 198_800, "L493"),
        Bucket(24, 24, 14_175_764, "L494"),
        Bucket(36, 36, 318_458_106, "L495"),
        Bucket(48, 48, 7_001_373, "L496"),
        Bucket(60, 60, 46_256_030, "L497"),
    ),
    # Seasoning, L427-L433 (header mislabelled in the deck), weighted by balance.
    seasoning_months=(
        Bucket(1, 3, 303_252_048, "L427"),
        Bucket(4, 6, 59_516_667, "L428"),
        Bucket(7, 9, 1_222_276, "L429"),
        Bucket(25, 27, 213_608, "L430"),
        Bucket(28, 30, 15_271_310, "L431"),
        Bucket(31, 33, 5_232_439, "L432"),
        Bucket(34, 36, 1_381_724, "L433"),
    ),
    remaining_term_range=(1, 60),  # 0.07-59.97 months (L254)
    # Rent payment type, L349-L350: monthly equal instalments 4,226; ladder (stepped) instalments
    # 2,648 — stepped schedules are not one of the three tape methods; modelled as annuities.
    amortization=((Amortization.ANNUITY, 1),),
    payment_days=(1, 28),  # not disclosed: assumed uniform over 1..28
    shared_borrower_per_million=2_910,  # 6,874 contracts, 6,854 lessees (L247-L248)
    pool_loans=6_874,
    pool_balance="386090075.88",  # L315
    notes="Auto leases (sale and leaseback); rents treated as loan instalments.",
)


PROFILES: dict[str, PoolProfile] = {
    p.key: p
    for p in (ALL_TRUST_LEASE_2023_2, DRIVER_CHINA_13, XINRONG_2024_1, WENHUI_2024_1, BYD_2021_2)
}
"""Profiles by seed number ("000" to "004")."""


def profile(key: str) -> PoolProfile:
    """The profile of a seed deal by its seed number, e.g. ``profile("001")``."""
    try:
        return PROFILES[key]
    except KeyError:
        raise KeyError(f"no pool profile for seed {key!r}; have {sorted(PROFILES)}") from None
