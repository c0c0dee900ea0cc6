-- Product pairs: the latest association rules (rapport_core::pairs) mined from the shop's baskets,
-- by product (item_kind 'product': a line's sku, else its product name) and by category
-- ('category'). Each kind's rules are written whole each time they are worked out (the daemon on
-- a schedule, `rapport pairs` on demand), in rank order (0 is the best); a kind whose baskets fall
-- below the minimum has none.
CREATE TABLE pair_rules (
    item_kind TEXT NOT NULL,
    rank BIGINT NOT NULL,
    antecedent TEXT NOT NULL,
    consequent TEXT NOT NULL,
    support DOUBLE PRECISION NOT NULL,
    confidence DOUBLE PRECISION NOT NULL,
    lift DOUBLE PRECISION NOT NULL,
    baskets BIGINT NOT NULL,
    antecedent_baskets BIGINT NOT NULL,
    consequent_baskets BIGINT NOT NULL,
    computed_at BIGINT NOT NULL,
    PRIMARY KEY (item_kind, rank)
);
