"""A stand-in for the history tables while they are being built on main.

``portfolio.equity_history``, ``portfolio.pnl_history`` and ``portfolio.risk_history``
are assets of the portfolio group that land on main soon. Until then the dashboard's
tests need rows of their contract, so ``ensure_history_tables`` derives them in SQL from
the tables the graph did materialize (today's positions marked at each session's close,
SPY for the benchmark). A table that the graph materialized itself is never replaced:
once the real assets exist, the tests read them and this module is unused.
"""

from __future__ import annotations

from robo_dagster.warehouse.connection import locked_connection

# Today's book marked at every session's close: quantity x close, plus today's cash.
_MARKS = """
with bars as (
    select b.date, b.symbol, b.close, p.quantity, p.sector, p.cost_basis
    from market_data.price_bars b join portfolio.positions p using (symbol)
),
book as (
    select date, sum(quantity * close) as market_value from bars group by date
),
cash as (select cash from portfolio.account_balances order by as_of desc limit 1),
spy as (
    select date, close as spy_close from market_data.price_bars where symbol = 'SPY'
)
"""

EQUITY_HISTORY = f"""
create table portfolio.equity_history as
{_MARKS},
marked as (
    select book.date, book.market_value, cash.cash, book.market_value + cash.cash as equity,
           spy.spy_close
    from book cross join cash join spy using (date)
),
returns as (
    select *, equity - lag(equity) over w as day_pnl,
           equity / lag(equity) over w - 1 as daily_return,
           equity / first_value(equity) over w - 1 as cumulative_return,
           equity / max(equity) over (order by date rows unbounded preceding) - 1 as drawdown,
           spy_close / first_value(spy_close) over w - 1 as benchmark_cumulative_return
    from marked window w as (order by date)
)
select date::timestamp as date, equity, cash, market_value, null::double as realized_pnl,
       null::double as unrealized_pnl, null::double as fees, coalesce(day_pnl, 0) as day_pnl,
       0.0 as deposits, 0.0 as withdrawals, coalesce(daily_return, 0) as daily_return,
       cumulative_return, drawdown, benchmark_cumulative_return,
       'test stand-in' as source
from returns order by date
"""

PNL_HISTORY = f"""
create table portfolio.pnl_history as
{_MARKS},
equity as (select date, market_value + (select cash from cash) as equity from book),
rows_ as (
    select bars.date, symbol, sector, quantity, close, quantity * close as market_value,
           quantity * (close - lag(close) over (partition by symbol order by bars.date))
               as day_pnl,
           quantity * close - cost_basis as total_pnl,
           lag(equity.equity) over (partition by symbol order by bars.date) as previous_equity
    from bars join equity using (date)
)
select date::timestamp as date, symbol, sector, quantity, close, market_value,
       coalesce(day_pnl, 0) as day_pnl, total_pnl,
       coalesce(day_pnl / previous_equity, 0) as contribution,
       coalesce(sum(day_pnl) over (partition by date, sector), 0) as sector_day_pnl,
       coalesce(sum(day_pnl) over (partition by date, sector) / previous_equity, 0)
           as sector_contribution
from rows_ order by date, symbol
"""

RISK_HISTORY = """
create table portfolio.risk_history as
with e as (
    select date, equity, market_value, daily_return,
           benchmark_cumulative_return + 1 as spy_level
    from portfolio.equity_history
),
r as (
    select *, spy_level / lag(spy_level) over (order by date) - 1 as spy_return from e
),
w as (
    select *,
        1.645 * stddev_samp(daily_return) over last20 as var_pct,
        regr_slope(daily_return, spy_return) over last20 as beta,
        count(*) over last20 as history_days
    from r window last20 as (order by date rows between 19 preceding and current row)
),
largest as (
    select date, arg_max(symbol, market_value) as largest_position,
           max(market_value) as largest_value
    from portfolio.pnl_history group by date
),
sectors as (
    select date, sector, sum(market_value) as value from portfolio.pnl_history
    group by date, sector
),
largest_sector as (
    select date, arg_max(sector, value) as largest_sector, max(value) as largest_sector_value
    from sectors group by date
)
select w.date, w.equity, coalesce(w.var_pct, 0) * w.equity as var_95_1d,
       coalesce(w.var_pct, 0) as var_95_1d_pct, 0.03 as var_95_limit_pct,
       coalesce(w.var_pct, 0) > 0.03 as var_breach,
       w.market_value / w.equity as gross_exposure, w.market_value / w.equity as net_exposure,
       largest.largest_position, largest.largest_value / w.equity as largest_position_weight,
       largest_sector.largest_sector,
       largest_sector.largest_sector_value / w.equity as largest_sector_weight,
       w.beta, w.history_days
from w join largest using (date) join largest_sector using (date) order by date
"""

STAND_INS = {
    "equity_history": EQUITY_HISTORY,
    "pnl_history": PNL_HISTORY,
    "risk_history": RISK_HISTORY,
}


def ensure_history_tables(database: str) -> list[str]:
    """Create each history table the graph did not materialize; the names created."""
    created = []
    with locked_connection(database) as conn:
        present = {
            name
            for (name,) in conn.execute(
                "select table_name from information_schema.tables where table_schema = 'portfolio'"
            ).fetchall()
        }
        for name, sql in STAND_INS.items():
            if name not in present:
                conn.execute(sql)
                created.append(name)
    return created
