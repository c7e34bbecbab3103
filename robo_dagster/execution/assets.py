"""Assets of the ``execution`` group: order intents, their submission, and their fills.

Nothing is sent unless the user asked for it: ``ROBO_EXECUTION`` is ``dry-run`` by
default (record what would be sent), ``paper`` sends to the broker and only from
``execution_job``, and ``off`` runs nothing. Live trading does not exist here.
"""

import datetime as dt
from typing import Any

import pandas as pd
from dagster import AssetExecutionContext, MetadataValue, Output

from robo_dagster import settings
from robo_dagster.asset_defaults import group_asset, upstream
from robo_dagster.domain import calendar
from robo_dagster.domain.orders import INTENT_COLUMNS, SizingRules, size_orders
from robo_dagster.execution.gate import recommendations_refusal
from robo_dagster.metadata import markdown_preview
from robo_dagster.providers import BrokerProvider, MarketDataProvider
from robo_dagster.providers.datasets import empty_result
from robo_dagster.providers.orders import (
    OPEN_STATUSES,
    DuplicateOrder,
    OrderRejected,
    OrderRequest,
    OrderState,
)
from robo_dagster.tasks.queues import PORTFOLIO_SYNC
from robo_dagster.warehouse import DuckDBWarehouse

GROUP = "execution"
execution_asset = group_asset(GROUP, owners=["team:trading"], queue=PORTFOLIO_SYNC)
PRICE_BARS = ["market_data", "price_bars"]
SUBMISSION_LOG = "execution.submission_log"
EXECUTION_JOB = "execution_job"
INTENT_SCHEMA = {
    "intent_id": "object",
    "client_order_id": "object",
    "session": "datetime64[ns]",
    "trade_date": "datetime64[ns]",
    "symbol": "object",
    "side": "object",
    "quantity": "float64",
    "order_type": "object",
    "limit_price": "float64",
    "price": "float64",
    "notional": "float64",
    "weight_before": "float64",
    "weight_after": "float64",
    "target_weight": "float64",
    "recommendation": "object",
    "status": "object",
    "reason": "object",
}
SUBMISSION_SCHEMA = {
    "client_order_id": "object",
    "session": "datetime64[ns]",
    "symbol": "object",
    "side": "object",
    "quantity": "float64",
    "order_type": "object",
    "limit_price": "float64",
    "mode": "object",
    "outcome": "object",
    "broker_order_id": "object",
    "broker_status": "object",
    "message": "object",
    "recorded_at": "datetime64[ns]",
    "run_id": "object",
}
FILL_SCHEMA = {
    "client_order_id": "object",
    "broker_order_id": "object",
    "symbol": "object",
    "side": "object",
    "quantity": "float64",
    "status": "object",
    "filled_quantity": "float64",
    "filled_average_price": "float64",
    "updated_at": "datetime64[ns]",
    "checked_at": "datetime64[ns]",
}
# Outcomes that mean the broker holds the order: it must never be sent again.
PLACED = ("submitted", "already_placed")
OPEN_STATUSES_LIST = sorted(OPEN_STATUSES)


def typed(frame: pd.DataFrame, schema: dict[str, str]) -> pd.DataFrame:
    """``frame``'s columns in ``schema`` order and types: a text column that is all null
    (no broker id in a dry run) still reaches DuckDB as text, not as type NULL."""
    return frame[list(schema)].astype(
        {c: "string" if t == "object" else t for c, t in schema.items()}
    )


def _now() -> pd.Timestamp:
    return pd.Timestamp.now(tz="UTC").tz_localize(None)


def session_orders(warehouse: DuckDBWarehouse, session: dt.date) -> pd.DataFrame:
    """The orders placed for ``session`` so far (client_order_id, symbol)."""
    if not warehouse.table_exists("execution", "submission_log"):
        return pd.DataFrame(columns=["client_order_id", "symbol"])
    return warehouse.query(
        f"select distinct client_order_id, symbol from {SUBMISSION_LOG} "
        "where session = ? and outcome in (select unnest(?))",
        [pd.Timestamp(session), list(PLACED)],
    )


def order_ticket(intents: pd.DataFrame, equity: float, mode: str) -> str:
    """The intents as a trader reads them: what and how much in a narrow table, then why
    for every order that is not going out as asked, then the day's totals."""
    live = intents[intents["quantity"] > 0]
    buys = round(float(live.loc[live["side"] == "buy", "notional"].sum()), 2)
    sells = round(float(live.loc[live["side"] == "sell", "notional"].sum()), 2)
    shown = pd.DataFrame(
        {
            "symbol": intents["symbol"],
            "side": intents["side"],
            "shares": intents["quantity"].map("{:,.0f}".format),
            "type": intents["order_type"]
            + intents["limit_price"].map(lambda v: "" if pd.isna(v) else f" {v:,.2f}"),
            "notional": intents["notional"].map("{:,.2f}".format),
            "weight before": intents["weight_before"].map("{:.1%}".format),
            "after": intents["weight_after"].map("{:.1%}".format),
            "status": intents["status"],
        }
    )
    notes = intents[intents["status"] != "ready"]
    lines = [
        f"# Order ticket: {len(live)} order(s) for {intents['trade_date'].iloc[0]:%Y-%m-%d}",
        f"Mode **{mode}**. Buys {buys:,.2f}, sells {sells:,.2f}, net cash {sells - buys:+,.2f}; "
        f"turnover {(buys + sells) / equity:.1%} of equity.",
        shown.to_markdown(index=False),
    ]
    if len(notes):
        lines.append(
            "\n".join(f"- **{r.symbol}** {r.status}: {r.reason}" for r in notes.itertuples())
        )
    return "\n\n".join(lines)


@execution_asset(
    ins={
        "trade_recommendations": upstream("ai_analysis", "trade_recommendations"),
        "positions": upstream("portfolio", "positions"),
        "account_balances": upstream("portfolio", "account_balances"),
        "universe": upstream("market_data", "universe"),
    },
    deps=[PRICE_BARS],
)
def order_intents(
    context: AssetExecutionContext,
    broker: BrokerProvider,
    market: MarketDataProvider,
    warehouse: DuckDBWarehouse,
    trade_recommendations: pd.DataFrame,
    positions: pd.DataFrame,
    account_balances: pd.DataFrame,
    universe: pd.DataFrame,
) -> Output[pd.DataFrame]:
    """The orders that would move the book from its positions to the recommended target
    weights, for the session after the market's latest: whole shares, sells before buys,
    clipped to the position and sector limits after the trade, the cash floor and the
    buying power; none under ``ROBO_MIN_ORDER_NOTIONAL`` or for a symbol that did not
    trade. Only recommendations of the current session that passed the blocking
    ``recommendations_within_risk_limits`` check become orders. Each row carries a
    deterministic ``client_order_id``; the metadata is the order ticket."""
    session = market.session()
    trade_date = calendar.session_on_or_after(session + dt.timedelta(days=1))
    account = account_balances.iloc[0]
    equity = float(account["equity"])
    limits = broker.limits()
    symbols = trade_recommendations["symbol"].tolist()
    closes = warehouse.query(
        "select symbol, close from market_data.price_bars where date = ? and symbol in (select unnest(?))",
        [pd.Timestamp(session), symbols],
    ).set_index("symbol")["close"]
    untradable = pd.Series(broker.untradable(symbols), dtype=object)
    refusal = recommendations_refusal(context.instance, trade_recommendations, session)
    earlier = session_orders(warehouse, session)
    rules = SizingRules(
        max_position_weight=limits.max_position_weight,
        max_sector_weight=limits.max_sector_weight,
        cash_floor_pct=limits.cash_floor_pct,
        min_notional=settings.min_order_notional(),
        order_type=settings.order_type(),
        limit_slippage_bps=settings.limit_slippage_bps(),
    )
    intents = size_orders(
        trade_recommendations,
        positions,
        closes,
        untradable,
        universe.set_index("symbol")["sector"],
        account=str(account["account_id"]),
        session=session.isoformat(),
        trade_date=trade_date.isoformat(),
        equity=equity,
        cash=float(account["cash"]),
        buying_power=float(account["buying_power"]),
        rules=rules,
    )
    if refusal is not None:
        intents = intents.assign(quantity=0.0, notional=0.0, status="refused", reason=refusal)
        intents["weight_after"] = intents["weight_before"]
        context.log.warning(f"no order from these recommendations: {refusal}")
    other = earlier[~earlier["client_order_id"].isin(intents["client_order_id"])]
    again = intents["symbol"].isin(set(other["symbol"])) & (intents["quantity"] > 0)
    if again.any():
        first = other.drop_duplicates("symbol").set_index("symbol")["client_order_id"]
        intents.loc[again, "reason"] = (
            "another order was placed for this symbol this session: "
            + intents.loc[again, "symbol"].map(first)
        )
        intents.loc[again, ["quantity", "notional"]] = 0.0
        intents.loc[again, "status"] = "refused"
    intents = intents.assign(session=pd.Timestamp(session), trade_date=pd.Timestamp(trade_date))[
        INTENT_COLUMNS
    ]
    mode = settings.execution_mode()
    if intents.empty:
        frame = empty_result(INTENT_SCHEMA, "no BUY or SELL recommendation: nothing to trade")
        return Output(
            frame,
            metadata={
                "orders": 0,
                "mode": MetadataValue.text(mode),
                "ticket": MetadataValue.md("_No BUY or SELL recommendation: nothing to trade._"),
            },
        )
    live = intents[intents["quantity"] > 0]
    return Output(
        intents,
        metadata={
            "orders": len(live),
            "refused": int((intents["status"] == "refused").sum()),
            "clipped": int((intents["status"] == "clipped").sum()),
            "turnover_pct": MetadataValue.float(
                round(100 * float(live["notional"].sum()) / equity, 2)
            ),
            "mode": MetadataValue.text(mode),
            "ticket": MetadataValue.md(order_ticket(intents, equity, mode)),
        },
    )


def record_submissions(warehouse: DuckDBWarehouse, frame: pd.DataFrame) -> None:
    """Append this run's submission records to the log that outlives the run."""

    def write(conn: Any) -> None:
        conn.execute("create schema if not exists execution")
        conn.register("records", frame)
        conn.execute(
            f"create table if not exists {SUBMISSION_LOG} as select * from records limit 0"
        )
        conn.execute(f"insert into {SUBMISSION_LOG} by name select * from records")

    # One transaction, so that a retried commit appends the records once.
    warehouse.transaction(write, "recording the submissions")


def _record(
    row: pd.Series, mode: str, outcome: str, run_id: str, state: OrderState | None, message: str
) -> dict[str, object]:
    return {
        "client_order_id": row["client_order_id"],
        "session": row["session"],
        "symbol": row["symbol"],
        "side": row["side"],
        "quantity": float(row["quantity"]),
        "order_type": row["order_type"],
        "limit_price": row["limit_price"],
        "mode": mode,
        "outcome": outcome,
        "broker_order_id": state.broker_order_id if state else None,
        "broker_status": state.status if state else None,
        "message": message,
        "recorded_at": _now(),
        "run_id": run_id,
    }


def submit_intent(broker: BrokerProvider, row: pd.Series) -> tuple[str, OrderState | None, str]:
    """Send one intent once: an order the broker already has under this
    ``client_order_id`` (found first, or answered as a duplicate) is already placed,
    never sent again and never an error."""
    existing = broker.find_order(str(row["client_order_id"]))
    if existing is not None:
        return "already_placed", existing, "the broker already has this order"
    order = OrderRequest(
        client_order_id=str(row["client_order_id"]),
        symbol=str(row["symbol"]),
        side=row["side"],
        quantity=int(row["quantity"]),
        order_type=row["order_type"],
        limit_price=None if pd.isna(row["limit_price"]) else float(row["limit_price"]),
    )
    try:
        return "submitted", broker.submit(order), ""
    except DuplicateOrder as exc:
        return "already_placed", broker.find_order(order.client_order_id), str(exc)
    except OrderRejected as exc:
        return "rejected", None, str(exc)


@execution_asset(
    ins={"order_intents": upstream(GROUP, "order_intents")},
    output_required=False,
)
def order_submissions(
    context: AssetExecutionContext,
    broker: BrokerProvider,
    warehouse: DuckDBWarehouse,
    order_intents: pd.DataFrame,
):
    """What was sent for each order intent, by ``ROBO_EXECUTION``: ``dry-run`` (the
    default) records what would be sent and sends nothing; ``paper`` posts each intent,
    sells first, to the broker, only from ``execution_job``; ``off`` does not run. An
    intent the broker already holds (found by its ``client_order_id``, or answered as a
    duplicate) is recorded as already placed and never sent twice; a refusal is
    recorded with the broker's reason. Every record also goes to
    ``execution.submission_log``, which outlives the run."""
    mode = settings.execution_mode()
    if mode == "off":
        context.log.info("ROBO_EXECUTION=off: order submission does not run")
        return
    if mode == "paper" and context.job_name != EXECUTION_JOB:
        raise PermissionError(
            f"ROBO_EXECUTION=paper sends orders only from {EXECUTION_JOB} (this run is "
            f"{context.job_name}): launch it with `robo-dagster submit {EXECUTION_JOB}` or "
            "from the Launchpad"
        )
    live = order_intents[order_intents["quantity"] > 0] if len(order_intents) else order_intents
    records = []
    for _, row in live.iterrows():  # one broker call per order: a few a day
        if mode == "dry-run":
            records.append(
                _record(row, mode, "dry_run", context.run_id, None, "not sent (dry run)")
            )
            continue
        outcome, state, message = submit_intent(broker, row)
        records.append(_record(row, mode, outcome, context.run_id, state, message))
        context.log.info(f"{row['client_order_id']}: {outcome} {message}".rstrip())
    if not records:
        frame = empty_result(SUBMISSION_SCHEMA, "no order to send")
        yield Output(frame, metadata={"mode": MetadataValue.text(mode), "orders": 0})
        return
    frame = typed(pd.DataFrame(records), SUBMISSION_SCHEMA)
    record_submissions(warehouse, frame)
    counts = frame["outcome"].value_counts().to_dict()
    yield Output(
        frame,
        metadata={
            "mode": MetadataValue.text(mode),
            "orders": len(frame),
            **{outcome: int(n) for outcome, n in counts.items()},
            "preview": markdown_preview(
                frame[["symbol", "side", "quantity", "outcome", "broker_status", "message"]], 20
            ),
        },
    )


@execution_asset(deps=[[GROUP, "order_submissions"]])
def order_fills(broker: BrokerProvider, warehouse: DuckDBWarehouse) -> Output[pd.DataFrame]:
    """The status of every order the broker holds (from ``execution.submission_log``):
    open, filled, partially filled, canceled, expired, with the filled quantity and
    average price. Final statuses are kept; open ones are asked again each run, which
    ``open_orders_sensor`` starts while any order is open. Fills reach the positions on
    the next broker sync."""
    if not warehouse.table_exists("execution", "submission_log"):
        frame = empty_result(FILL_SCHEMA, "no order has been placed")
        return Output(frame, metadata={"orders": 0, "open": 0})
    placed = warehouse.query(
        f"select distinct client_order_id from {SUBMISSION_LOG} where outcome in (select unnest(?))",
        [list(PLACED)],
    )["client_order_id"].tolist()
    known = (
        warehouse.query("select * from execution.order_fills")
        if warehouse.table_exists("execution", "order_fills")
        else pd.DataFrame(columns=list(FILL_SCHEMA))
    )
    final = known[~known["status"].isin(OPEN_STATUSES_LIST) & known["client_order_id"].isin(placed)]
    rows = final.to_dict("records")
    for cid in sorted(set(placed) - set(final["client_order_id"])):
        state = broker.find_order(cid)
        if state is None:
            continue
        rows.append(
            {
                "client_order_id": cid,
                "broker_order_id": state.broker_order_id,
                "symbol": state.symbol,
                "side": state.side,
                "quantity": state.quantity,
                "status": state.status,
                "filled_quantity": state.filled_quantity,
                "filled_average_price": state.filled_average_price,
                "updated_at": pd.Timestamp(state.updated_at).tz_convert("UTC").tz_localize(None)
                if state.updated_at is not None
                else pd.NaT,
                "checked_at": _now(),
            }
        )
    if not rows:
        frame = empty_result(FILL_SCHEMA, "the broker reports none of the placed orders")
        return Output(frame, metadata={"orders": 0, "open": 0})
    frame = typed(pd.DataFrame(rows), FILL_SCHEMA).sort_values("client_order_id", ignore_index=True)
    open_orders = int(frame["status"].isin(OPEN_STATUSES_LIST).sum())
    return Output(
        frame,
        metadata={
            "orders": len(frame),
            "open": open_orders,
            "filled": int((frame["status"] == "filled").sum()),
            "preview": markdown_preview(
                frame[
                    [
                        "symbol",
                        "side",
                        "quantity",
                        "status",
                        "filled_quantity",
                        "filled_average_price",
                    ]
                ],
                20,
            ),
        },
    )
