"""The demo brand's product catalogue: 200 products in 10 categories, prices per currency,
popularity within each category and co-purchase companions.

The catalogue is fixed (it does not depend on the seed): product ids, names and prices are the
same in every demo set, so that benchmarks and examples can name products.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CATEGORIES: tuple[str, ...] = (
    "Apparel",
    "Footwear",
    "Bags & Accessories",
    "Home & Kitchen",
    "Beauty",
    "Electronics",
    "Outdoor",
    "Toys & Games",
    "Books & Stationery",
    "Food & Drink",
)

# Per category: (price range in USD, product names). Some names hold commas on purpose.
_PRODUCTS: tuple[tuple[tuple[float, float], tuple[str, ...]], ...] = (
    (
        (18, 180),
        (
            "Merino Crew Sweater",
            "Linen Button-Down Shirt",
            "Organic Cotton Tee",
            "Slim Chinos",
            "Rain Shell Jacket",
            "Quilted Vest",
            "Wool Overcoat",
            "Yoga Leggings",
            "Denim Jacket",
            "Flannel Shirt",
            "Cashmere Scarf",
            "Hooded Sweatshirt",
            "Pleated Midi Skirt",
            "Silk Blouse",
            "Cargo Shorts",
            "Puffer Jacket",
            "Knit Beanie",
            "Thermal Base Layer",
            "Pajama Set, Brushed Cotton",
            "Wool Socks, 3-Pack",
        ),
    ),
    (
        (35, 220),
        (
            "Leather Sneakers",
            "Trail Running Shoes",
            "Chelsea Boots",
            "Canvas Slip-Ons",
            "Hiking Boots",
            "Suede Loafers",
            "Wool Slippers",
            "Rain Boots",
            "Espadrilles",
            "Court Sneakers",
            "Desert Boots",
            "Sport Sandals",
            "Ballet Flats",
            "Derby Shoes",
            "Winter Snow Boots",
            "Running Shoes, Road",
            "Clogs",
            "High-Top Sneakers",
            "Insoles, Memory Foam",
            "Shoe Care Kit",
        ),
    ),
    (
        (12, 260),
        (
            "Leather Tote",
            "Canvas Backpack",
            "Weekender Bag",
            "Crossbody Bag",
            "Card Wallet",
            "Leather Belt",
            "Sunglasses",
            "Wool Gloves",
            "Travel Pouch",
            "Laptop Sleeve",
            "Bucket Hat",
            "Silk Scarf",
            "Passport Holder",
            "Key Ring, Brass",
            "Watch Strap",
            "Umbrella, Compact",
            "Duffel Bag",
            "Belt Bag",
            "Coin Purse",
            "Luggage Tag",
        ),
    ),
    (
        (9, 320),
        (
            "Espresso Maker",
            "Coffee Grinder",
            "Pour-Over Kettle",
            "Ceramic Mug Set",
            "Stoneware Dinner Plates",
            "Linen Napkins, Set of 4",
            "Cast Iron Skillet",
            "Chef's Knife",
            "Cutting Board, Walnut",
            "French Press",
            "Glass Storage Jars",
            "Scented Candle",
            "Wool Throw Blanket",
            "Cotton Bath Towels",
            "Linen Duvet Cover",
            "Down Pillow",
            "Table Lamp",
            "Wall Clock",
            "Tea Kettle",
            "Knife Sharpener",
        ),
    ),
    (
        (8, 95),
        (
            "Face Moisturizer",
            "Vitamin C Serum",
            "Gentle Cleanser",
            "Sunscreen SPF 50",
            "Lip Balm Trio",
            "Hand Cream",
            "Shampoo Bar",
            "Conditioner Bar",
            "Body Lotion",
            "Beard Oil",
            "Night Cream",
            "Eye Cream",
            "Clay Mask",
            "Perfume, Eau de Parfum",
            "Bamboo Toothbrush",
            "Makeup Brush Set",
            "Nail Polish",
            "Dry Shampoo",
            "Bath Salts",
            "Facial Toner",
        ),
    ),
    (
        (15, 650),
        (
            "Wireless Earbuds",
            "Noise-Cancelling Headphones",
            "Bluetooth Speaker",
            "Phone Case",
            "Screen Protector",
            "Fast Charger",
            "USB-C Cable, 2 m",
            "Power Bank",
            "Smart Watch",
            "Fitness Tracker",
            "E-Reader",
            "Tablet Stand",
            "Wireless Charging Pad",
            "Mechanical Keyboard",
            "Wireless Mouse",
            "Webcam HD",
            "Portable SSD, 1 TB",
            "Smart Plug",
            "Desk Lamp LED",
            "Travel Adapter",
        ),
    ),
    (
        (10, 480),
        (
            "Camping Tent, 2-Person",
            "Sleeping Bag",
            "Sleeping Pad",
            "Headlamp",
            "Insulated Water Bottle",
            "Trekking Poles",
            "Camp Stove",
            "Camp Cookware Set",
            "Day Pack, 25 L",
            "Hammock",
            "Camp Chair",
            "Cooler Bag",
            "Rain Poncho",
            "First Aid Kit",
            "Multi-Tool",
            "Picnic Blanket",
            "Fleece Jacket",
            "Gaiters",
            "Water Filter",
            "Compass",
        ),
    ),
    (
        (8, 150),
        (
            "Wooden Building Blocks",
            "Jigsaw Puzzle, 1000 Pieces",
            "Board Game, Strategy",
            "Plush Bear",
            "Card Game",
            "Kite",
            "Model Train Set",
            "Art Supplies Kit",
            "Science Kit",
            "Dollhouse",
            "Remote Control Car",
            "Marble Run",
            "Chess Set",
            "Kids' Tea Set",
            "Stacking Rings",
            "Play Tent",
            "Yo-Yo",
            "Balance Bike",
            "Magnetic Tiles",
            "Puppet Theater",
        ),
    ),
    (
        (5, 60),
        (
            "Dotted Notebook",
            "Fountain Pen",
            "Ink Cartridges",
            "Planner 2026",
            "Watercolor Set",
            "Cookbook, Seasonal",
            "Travel Journal",
            "Novel, Bestseller",
            "Sketchbook",
            "Desk Organizer",
            "Greeting Cards, 10-Pack",
            "Washi Tape",
            "Bookmark Set",
            "Pencil Set",
            "Gift Wrap",
            "Photo Album",
            "Atlas of the World",
            "Children's Picture Book",
            "Calligraphy Kit",
            "Wall Calendar",
        ),
    ),
    (
        (4, 75),
        (
            "Coffee Beans, Single Origin",
            "Loose Leaf Tea",
            "Dark Chocolate Bar",
            "Olive Oil, Extra Virgin",
            "Honey, Wildflower",
            "Granola",
            "Hot Sauce",
            "Spice Set",
            "Sparkling Water, 12-Pack",
            "Pasta, Bronze-Cut",
            "Coffee Filters",
            "Matcha Powder",
            "Shortbread Tin",
            "Jam Trio",
            "Nut Butter",
            "Dried Mango",
            "Gift Hamper",
            "Herbal Tea Sampler",
            "Maple Syrup",
            "Sea Salt Flakes",
        ),
    ),
)

# Products bought together (both directions): (category index, position) pairs.
_COMPANIONS: tuple[tuple[str, str], ...] = (
    ("Espresso Maker", "Coffee Beans, Single Origin"),
    ("Coffee Grinder", "Coffee Beans, Single Origin"),
    ("French Press", "Coffee Beans, Single Origin"),
    ("Pour-Over Kettle", "Coffee Filters"),
    ("Tea Kettle", "Loose Leaf Tea"),
    ("Ceramic Mug Set", "Herbal Tea Sampler"),
    ("Phone Case", "Screen Protector"),
    ("Fast Charger", "USB-C Cable, 2 m"),
    ("Power Bank", "USB-C Cable, 2 m"),
    ("Smart Watch", "Watch Strap"),
    ("Mechanical Keyboard", "Wireless Mouse"),
    ("Wireless Earbuds", "Travel Pouch"),
    ("Camping Tent, 2-Person", "Sleeping Bag"),
    ("Sleeping Bag", "Sleeping Pad"),
    ("Camp Stove", "Camp Cookware Set"),
    ("Hiking Boots", "Wool Socks, 3-Pack"),
    ("Trail Running Shoes", "Insoles, Memory Foam"),
    ("Leather Sneakers", "Shoe Care Kit"),
    ("Chelsea Boots", "Shoe Care Kit"),
    ("Fountain Pen", "Ink Cartridges"),
    ("Dotted Notebook", "Fountain Pen"),
    ("Watercolor Set", "Sketchbook"),
    ("Cast Iron Skillet", "Chef's Knife"),
    ("Chef's Knife", "Cutting Board, Walnut"),
    ("Olive Oil, Extra Virgin", "Pasta, Bronze-Cut"),
    ("Face Moisturizer", "Gentle Cleanser"),
    ("Shampoo Bar", "Conditioner Bar"),
    ("Vitamin C Serum", "Sunscreen SPF 50"),
    ("Linen Duvet Cover", "Down Pillow"),
    ("Rain Shell Jacket", "Rain Boots"),
    ("Wool Overcoat", "Cashmere Scarf"),
    ("Laptop Sleeve", "Wireless Mouse"),
    ("Jigsaw Puzzle, 1000 Pieces", "Board Game, Strategy"),
    ("Gift Hamper", "Greeting Cards, 10-Pack"),
    ("Dark Chocolate Bar", "Shortbread Tin"),
    ("Day Pack, 25 L", "Insulated Water Bottle"),
    ("Headlamp", "Multi-Tool"),
    ("Yoga Leggings", "Insulated Water Bottle"),
)

# Local prices: USD → currency multipliers and rounding to price points.
_PRICE_FACTORS = {"USD": 1.0, "EUR": 0.93, "GBP": 0.80, "CNY": 7.1}


@dataclass(frozen=True)
class Catalogue:
    product_id: tuple[str, ...]
    name: tuple[str, ...]
    category: np.ndarray  # category index per product
    price_cents: dict[str, np.ndarray]  # currency → unit price in hundredths
    popularity: np.ndarray  # within-category weights (sum 1 per category)
    companion: np.ndarray  # product index of the companion, -1 when none
    by_category: tuple[np.ndarray, ...]  # product indexes per category
    cumulative: tuple[np.ndarray, ...]  # cumulative popularity per category

    def __len__(self) -> int:
        return len(self.product_id)


def _price_points(usd: np.ndarray, currency: str) -> np.ndarray:
    local = usd * _PRICE_FACTORS[currency]
    if currency == "CNY":
        return (np.maximum(np.round(local), 9) * 100).astype(np.int64)  # whole yuan
    return (np.ceil(local) * 100 - 1).astype(np.int64)  # .99 endings


def build_catalogue() -> Catalogue:
    rng = np.random.default_rng(20_240_101)  # fixed: same catalogue for every seed
    names: list[str] = []
    category: list[int] = []
    usd: list[float] = []
    popularity: list[float] = []
    for c, ((lo, hi), products) in enumerate(_PRODUCTS):
        k = len(products)
        prices = np.exp(rng.uniform(np.log(lo), np.log(hi), k))
        weights = 1.0 / np.arange(1, k + 1) ** 0.9  # Zipf-like within the category
        weights = weights[rng.permutation(k)]
        names.extend(products)
        category.extend([c] * k)
        usd.extend(prices.tolist())
        popularity.extend((weights / weights.sum()).tolist())
    usd_array = np.array(usd)
    index = {n: i for i, n in enumerate(names)}
    companion = np.full(len(names), -1, dtype=np.int64)
    for a, b in _COMPANIONS:
        if companion[index[a]] < 0:
            companion[index[a]] = index[b]
        if companion[index[b]] < 0:
            companion[index[b]] = index[a]
    cat = np.array(category)
    pop = np.array(popularity)
    by_category = tuple(np.flatnonzero(cat == c) for c in range(len(CATEGORIES)))
    return Catalogue(
        product_id=tuple(f"SKU-{1001 + i}" for i in range(len(names))),
        name=tuple(names),
        category=cat,
        price_cents={cur: _price_points(usd_array, cur) for cur in _PRICE_FACTORS},
        popularity=pop,
        companion=companion,
        by_category=by_category,
        cumulative=tuple(np.cumsum(pop[idx]) for idx in by_category),
    )


def draw_products(
    rng: np.random.Generator, catalogue: Catalogue, categories: np.ndarray
) -> np.ndarray:
    """A product of each given category, by popularity."""
    out = np.empty(len(categories), dtype=np.int64)
    u = rng.random(len(categories))
    for c, members in enumerate(catalogue.by_category):
        rows = np.flatnonzero(categories == c)
        if len(rows):
            cum = catalogue.cumulative[c]
            pos = np.minimum(np.searchsorted(cum, u[rows] * cum[-1]), len(members) - 1)
            out[rows] = members[pos]
    return out


def draw_categories(
    rng: np.random.Generator, affinity_cumulative: np.ndarray, owner: np.ndarray
) -> np.ndarray:
    """A category for each item, from its owner's cumulative category affinities."""
    u = rng.random(len(owner))
    cum = affinity_cumulative[owner]
    return np.minimum((cum < u[:, None]).sum(axis=1), cum.shape[1] - 1)
