-- Fits of the customer-base models (BG/NBD for purchases and P(alive), Gamma-Gamma for spend) on
-- the shop's history up to as_of (a date in the shop's time zone), one row per fit: the daemon
-- refits daily and `rapport predict` on demand; the latest is the one predictions use. With it, the
-- figures of rapport's minimum the history had. The Gamma-Gamma's columns are NULL when the spends
-- could not be fitted.
CREATE TABLE prediction_fits (
    id BIGSERIAL PRIMARY KEY,
    as_of TEXT NOT NULL,
    fitted_at BIGINT NOT NULL,
    time_unit TEXT NOT NULL,
    currency TEXT,
    customers BIGINT NOT NULL,
    repeat_customers BIGINT NOT NULL,
    frequent_customers BIGINT NOT NULL,
    history_days BIGINT NOT NULL,
    bgnbd_r DOUBLE PRECISION NOT NULL,
    bgnbd_alpha DOUBLE PRECISION NOT NULL,
    bgnbd_a DOUBLE PRECISION NOT NULL,
    bgnbd_b DOUBLE PRECISION NOT NULL,
    bgnbd_log_likelihood DOUBLE PRECISION NOT NULL,
    gamma_gamma_p DOUBLE PRECISION,
    gamma_gamma_q DOUBLE PRECISION,
    gamma_gamma_v DOUBLE PRECISION,
    gamma_gamma_log_likelihood DOUBLE PRECISION,
    gamma_gamma_customers BIGINT
);
CREATE INDEX prediction_fits_latest ON prediction_fits (fitted_at);
