"""Places: countries, cities with their regions and postal-code ranges, streets, stores.

Postal codes are drawn inside each city's range and always fit the country's format: US ZIP
(sometimes ZIP+4), GB postcodes (outward code of the city + inward code), DE/FR five digits
(leading zeros kept), CN six digits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from cdp_assets.demo import text

COUNTRIES: tuple[str, ...] = ("US", "GB", "DE", "FR", "CN")
US, GB, DE, FR, CN = range(5)
COUNTRY_SHARES = np.array([0.38, 0.16, 0.15, 0.12, 0.19])
CURRENCIES: tuple[str, ...] = ("USD", "GBP", "EUR", "EUR", "CNY")
TIME_ZONES: tuple[str, ...] = (
    "America/New_York",
    "Europe/London",
    "Europe/Berlin",
    "Europe/Paris",
    "Asia/Shanghai",
)
LANGUAGES: tuple[str, ...] = ("en-US", "en-GB", "de-DE", "fr-FR", "zh-CN")
# Hours to add to UTC for local daytime (standard time; generation only, never written).
UTC_OFFSET_HOURS = np.array([-5, 0, 1, 1, 8])

# How each country is written in free-text country fields, besides its ISO code.
COUNTRY_SPELLINGS: dict[str, tuple[str, ...]] = {
    "US": ("USA", "United States", "U.S.A."),
    "GB": ("United Kingdom", "UK", "Great Britain"),
    "DE": ("Germany", "Deutschland"),
    "FR": ("France",),
    "CN": ("China", "中国"),
}


@dataclass(frozen=True)
class City:
    name: str
    region: str
    postal: tuple[int, int] | tuple[str, ...]  # digit range (inclusive) or GB outward codes
    weight: float
    store_region: bool = False  # US East Coast: the brand's stores are here
    area_codes: tuple[str, ...] = ()  # US landline/mobile area codes


CITIES: dict[str, tuple[City, ...]] = {
    "US": (
        City("New York", "NY", (10001, 10282), 9, True, ("212", "646", "917")),
        City("Brooklyn", "NY", (11201, 11239), 6, True, ("718", "347", "929")),
        City("Boston", "MA", (2108, 2137), 4, True, ("617", "857")),
        City("Philadelphia", "PA", (19102, 19154), 4, True, ("215", "267")),
        City("Washington", "DC", (20001, 20020), 3, True, ("202",)),
        City("Miami", "FL", (33125, 33199), 3, True, ("305", "786")),
        City("Atlanta", "GA", (30301, 30350), 3, True, ("404", "678")),
        City("Newark", "NJ", (7102, 7114), 2, True, ("973", "862")),
        City("Baltimore", "MD", (21201, 21239), 2, True, ("410", "443")),
        City("Pittsburgh", "PA", (15201, 15235), 2, True, ("412",)),
        City("Charlotte", "NC", (28202, 28277), 2, True, ("704", "980")),
        City("Orlando", "FL", (32801, 32839), 2, True, ("407", "321")),
        City("Chicago", "IL", (60601, 60661), 5, False, ("312", "773")),
        City("Houston", "TX", (77001, 77099), 4, False, ("713", "832")),
        City("Dallas", "TX", (75201, 75254), 3, False, ("214", "972")),
        City("Austin", "TX", (78701, 78759), 2, False, ("512", "737")),
        City("Denver", "CO", (80202, 80249), 2, False, ("303", "720")),
        City("Seattle", "WA", (98101, 98199), 3, False, ("206",)),
        City("San Francisco", "CA", (94102, 94134), 3, False, ("415", "628")),
        City("Los Angeles", "CA", (90001, 90089), 6, False, ("213", "310", "323")),
        City("San Diego", "CA", (92101, 92154), 2, False, ("619", "858")),
        City("Portland", "OR", (97201, 97236), 2, False, ("503", "971")),
        City("Phoenix", "AZ", (85003, 85054), 2, False, ("602", "480")),
        City("Minneapolis", "MN", (55401, 55455), 2, False, ("612",)),
        City("Detroit", "MI", (48201, 48243), 1, False, ("313",)),
        City("Nashville", "TN", (37201, 37250), 1, False, ("615",)),
    ),
    "GB": (
        City(
            "London",
            "Greater London",
            (
                "E1",
                "E14",
                "N1",
                "N7",
                "SW1A",
                "SW11",
                "W1T",
                "W2",
                "SE1",
                "SE15",
                "NW1",
                "NW3",
                "EC1A",
                "EC2M",
                "WC2N",
                "WC1E",
            ),
            12,
        ),
        City("Manchester", "Greater Manchester", ("M1", "M4", "M14", "M20"), 4),
        City("Birmingham", "West Midlands", ("B1", "B15", "B33", "B29"), 4),
        City("Leeds", "West Yorkshire", ("LS1", "LS6", "LS11"), 3),
        City("Glasgow", "Scotland", ("G1", "G12", "G41"), 3),
        City("Edinburgh", "Scotland", ("EH1", "EH3", "EH10"), 2),
        City("Bristol", "Bristol", ("BS1", "BS8", "BS6"), 2),
        City("Liverpool", "Merseyside", ("L1", "L8", "L17"), 2),
        City("Cardiff", "Wales", ("CF10", "CF11", "CF24"), 1),
        City("Newcastle upon Tyne", "Tyne and Wear", ("NE1", "NE2", "NE6"), 1),
    ),
    "DE": (
        City("Berlin", "Berlin", (10115, 14199), 8),
        City("Hamburg", "Hamburg", (20095, 22769), 4),
        City("München", "Bayern", (80331, 81929), 4),
        City("Köln", "Nordrhein-Westfalen", (50667, 51149), 3),
        City("Frankfurt am Main", "Hessen", (60306, 60599), 2),
        City("Stuttgart", "Baden-Württemberg", (70173, 70629), 2),
        City("Düsseldorf", "Nordrhein-Westfalen", (40210, 40629), 2),
        City("Leipzig", "Sachsen", (4103, 4357), 2),
        City("Dresden", "Sachsen", (1067, 1328), 2),
        City("Nürnberg", "Bayern", (90402, 90491), 1),
    ),
    "FR": (
        City("Paris", "Île-de-France", (75001, 75020), 9),
        City("Lyon", "Auvergne-Rhône-Alpes", (69001, 69009), 3),
        City("Marseille", "Provence-Alpes-Côte d'Azur", (13001, 13016), 3),
        City("Toulouse", "Occitanie", (31000, 31500), 2),
        City("Nice", "Provence-Alpes-Côte d'Azur", (6000, 6300), 2),
        City("Nantes", "Pays de la Loire", (44000, 44300), 2),
        City("Strasbourg", "Grand Est", (67000, 67200), 1),
        City("Bordeaux", "Nouvelle-Aquitaine", (33000, 33800), 2),
        City("Lille", "Hauts-de-France", (59000, 59800), 2),
    ),
    "CN": (
        City("北京", "北京市", (100000, 102629), 8),
        City("上海", "上海市", (200000, 202183), 8),
        City("广州", "广东省", (510000, 511400), 5),
        City("深圳", "广东省", (518000, 518133), 5),
        City("杭州", "浙江省", (310000, 311500), 3),
        City("成都", "四川省", (610000, 611944), 3),
        City("南京", "江苏省", (210000, 211300), 2),
        City("武汉", "湖北省", (430000, 431400), 2),
        City("西安", "陕西省", (710000, 710300), 2),
        City("重庆", "重庆市", (400000, 401520), 2),
    ),
}

# Romanised Chinese city names, as some systems store them.
CITY_LATIN: dict[str, str] = {
    "北京": "Beijing",
    "上海": "Shanghai",
    "广州": "Guangzhou",
    "深圳": "Shenzhen",
    "杭州": "Hangzhou",
    "成都": "Chengdu",
    "南京": "Nanjing",
    "武汉": "Wuhan",
    "西安": "Xi'an",
    "重庆": "Chongqing",
}

STREETS: dict[str, tuple[str, ...]] = {
    "US": (
        "Main St",
        "Oak Ave",
        "Maple Dr",
        "Cedar Ln",
        "Park Ave",
        "Washington Blvd",
        "Elm St",
        "Pine St",
        "Lakeview Dr",
        "Sunset Blvd",
        "2nd Ave",
        "Highland Ave",
        "Church St",
        "Mill Rd",
        "River Rd",
        "Madison Ave",
        "Lincoln Way",
        "Franklin St",
        "Jefferson Ave",
        "Broadway",
        "Spring St",
        "Chestnut St",
        "Walnut St",
        "Hillcrest Rd",
    ),
    "GB": (
        "High Street",
        "Station Road",
        "Church Lane",
        "Victoria Road",
        "Green Lane",
        "Manor Road",
        "Park Road",
        "Queen Street",
        "King's Road",
        "Mill Lane",
        "Albert Road",
        "The Crescent",
        "London Road",
        "York Road",
        "Grange Road",
        "Windsor Avenue",
        "St John's Road",
        "Orchard Close",
        "Kingsway",
        "Elm Grove",
    ),
    "DE": (
        "Hauptstraße",
        "Bahnhofstraße",
        "Schillerstraße",
        "Goethestraße",
        "Gartenweg",
        "Lindenallee",
        "Am Markt",
        "Kirchgasse",
        "Mühlenweg",
        "Friedrichstraße",
        "Königsallee",
        "Berliner Straße",
        "Schulstraße",
        "Ringstraße",
        "Birkenweg",
        "Rosenstraße",
        "Waldstraße",
        "Dorfstraße",
        "Wilhelmstraße",
        "Marktplatz",
    ),
    "FR": (
        "rue de la Paix",
        "rue Victor Hugo",
        "avenue des Champs-Élysées",
        "boulevard Saint-Germain",
        "rue de Rivoli",
        "place Bellecour",
        "rue du Faubourg Saint-Honoré",
        "allée des Tilleuls",
        "chemin des Vignes",
        "rue Émile Zola",
        "avenue Jean Jaurès",
        "rue de la République",
        "boulevard Voltaire",
        "rue Pasteur",
        "avenue de la Gare",
        "rue des Écoles",
        "quai de la Loire",
        "rue Nationale",
        "impasse des Lilas",
        "rue du Château",
    ),
    "CN": (
        "建国路",
        "人民路",
        "中山路",
        "解放路",
        "南京路",
        "长安街",
        "和平路",
        "新华路",
        "延安路",
        "文化路",
        "复兴路",
        "朝阳路",
        "科技路",
        "东风路",
        "滨江大道",
        "淮海路",
    ),
}

# How someone else types a street: (regex, replacement), the first match replaced.
STREET_ABBREVIATIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "US": (
        (r"\bSt$", "Street"),
        (r"\bAve$", "Avenue"),
        (r"\bDr$", "Drive"),
        (r"\bRd$", "Road"),
        (r"\bBlvd$", "Boulevard"),
        (r"\bLn$", "Lane"),
        (r"\bSt,", "Street,"),
        (r"\bAve,", "Avenue,"),
    ),
    "GB": ((r"\bRoad$", "Rd"), (r"\bStreet$", "St"), (r"\bLane$", "Ln"), (r"\bAvenue$", "Ave")),
    "DE": ((r"straße ", "str. "), (r"Straße ", "Str. ")),
    "FR": ((r"\bavenue ", "av. "), (r"\bboulevard ", "bd "), (r"\brue ", "r. ")),
    "CN": (),
}

GB_INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"


@dataclass(frozen=True)
class Store:
    store_id: str
    name: str
    city: str
    phone_area: str
    phone_sub: str  # 555-01xx: fictional, valid per libphonenumber


STORES: tuple[Store, ...] = (
    Store("S01", "Fifth Avenue", "New York", "212", "5550142"),
    Store("S02", "Williamsburg", "Brooklyn", "718", "5550107"),
    Store("S03", "Back Bay", "Boston", "617", "5550163"),
    Store("S04", "Rittenhouse", "Philadelphia", "215", "5550118"),
    Store("S05", "Georgetown", "Washington", "202", "5550179"),
    Store("S06", "Brickell", "Miami", "305", "5550124"),
    Store("S07", "Ponce City", "Atlanta", "404", "5550186"),
    Store("S08", "Ironbound", "Newark", "973", "5550131"),
    Store("S09", "Inner Harbor", "Baltimore", "410", "5550155"),
    Store("S10", "Shadyside", "Pittsburgh", "412", "5550190"),
    Store("S11", "South End", "Charlotte", "704", "5550148"),
    Store("S12", "Thornton Park", "Orlando", "407", "5550112"),
)
STORE_TIME_ZONE = "America/New_York"


@dataclass
class Addresses:
    """Addresses of n people (Arrow string arrays) and the city index they live in."""

    city_index: np.ndarray  # index into CITIES[country]
    street: pa.Array
    city: pa.Array
    region: pa.Array
    postal_code: pa.Array


def draw_cities(rng: np.random.Generator, country: int, n: int) -> np.ndarray:
    cities = CITIES[COUNTRIES[country]]
    weights = np.array([c.weight for c in cities], dtype=float)
    return rng.choice(len(cities), size=n, p=weights / weights.sum())


def postal_codes(rng: np.random.Generator, country: int, city_index: np.ndarray) -> pa.Array:
    code = COUNTRIES[country]
    cities = CITIES[code]
    n = len(city_index)
    if code == "GB":
        outward_lists = [c.postal for c in cities]
        pick = (rng.random(n) * np.array([len(outward_lists[i]) for i in city_index])).astype(int)
        flat = [o for lst in outward_lists for o in lst]
        starts = np.cumsum([0] + [len(lst) for lst in outward_lists])[:-1]
        outward = text.pick(flat, starts[city_index] + pick)
        letters = text.tokens(rng, n, GB_INWARD_LETTERS, 2)
        return text.cat(outward, " ", text.integers(rng.integers(1, 10, n)), letters)
    lo = np.array([c.postal[0] for c in cities])[city_index]
    hi = np.array([c.postal[1] for c in cities])[city_index]
    value = lo + (rng.random(n) * (hi - lo + 1)).astype(np.int64)
    width = 6 if code == "CN" else 5
    return text.zero_padded(value, width)


def zip_plus_four(rng: np.random.Generator, zips: pa.Array) -> pa.Array:
    return text.cat(zips, "-", text.zero_padded(rng.integers(1, 10_000, len(zips)), 4))


def draw_addresses(rng: np.random.Generator, country: int, n: int) -> Addresses:
    code = COUNTRIES[country]
    cities = CITIES[code]
    city_index = draw_cities(rng, country, n)
    streets = STREETS[code]
    street_index = rng.integers(0, len(streets), n)
    if code == "US":
        number = rng.integers(1, 9_900, n)
        street = text.cat(text.integers(number), " ", text.pick(streets, street_index))
        apartment = rng.random(n) < 0.25
        unit = text.cat(
            ", Apt ",
            text.integers(rng.integers(1, 40, n)),
            text.pick(list("ABCDEF"), rng.integers(0, 6, n)),
        )
        street = text.where(apartment, text.cat(street, unit), street)
    elif code == "GB":
        number = rng.integers(1, 240, n)
        street = text.cat(text.integers(number), " ", text.pick(streets, street_index))
        flat = rng.random(n) < 0.2
        street = text.where(
            flat, text.cat("Flat ", text.integers(rng.integers(1, 30, n)), ", ", street), street
        )
    elif code in ("DE",):
        number = rng.integers(1, 180, n)
        street = text.cat(text.pick(streets, street_index), " ", text.integers(number))
    elif code == "FR":
        number = rng.integers(1, 160, n)
        street = text.cat(text.integers(number), " ", text.pick(streets, street_index))
    else:
        number = rng.integers(1, 999, n)
        building = rng.random(n) < 0.6
        flat = text.cat(
            text.integers(rng.integers(1, 30, n)),
            "栋",
            text.integers(rng.integers(1, 33, n)),
            "0",
            text.integers(rng.integers(1, 9, n)),
            "室",
        )
        street = text.cat(text.pick(streets, street_index), text.integers(number), "号")
        street = text.where(building, text.cat(street, flat), street)
    postal = postal_codes(rng, country, city_index)
    if code == "US":
        plus4 = rng.random(n) < 0.2
        postal = text.where(plus4, zip_plus_four(rng, postal), postal)
    return Addresses(
        city_index=city_index,
        street=street,
        city=text.pick([c.name for c in cities], city_index),
        region=text.pick([c.region for c in cities], city_index),
        postal_code=postal,
    )
