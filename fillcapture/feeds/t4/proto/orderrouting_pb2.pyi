import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from fillcapture.feeds.t4.proto import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class BuySell(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BUY_SELL_UNDEFINED: _ClassVar[BuySell]
    BUY_SELL_BUY: _ClassVar[BuySell]
    BUY_SELL_SELL: _ClassVar[BuySell]

class OrderStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ORDER_STATUS_NONE: _ClassVar[OrderStatus]
    ORDER_STATUS_WORKING: _ClassVar[OrderStatus]
    ORDER_STATUS_FINISHED: _ClassVar[OrderStatus]
    ORDER_STATUS_REJECTED: _ClassVar[OrderStatus]
    ORDER_STATUS_HELD: _ClassVar[OrderStatus]
    ORDER_STATUS_NO_CHANGE: _ClassVar[OrderStatus]

class OrderChange(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ORDER_CHANGE_NONE: _ClassVar[OrderChange]
    ORDER_CHANGE_FAILED: _ClassVar[OrderChange]
    ORDER_CHANGE_SUBMISSION_SUCCESS: _ClassVar[OrderChange]
    ORDER_CHANGE_SUBMISSION_REJECTED: _ClassVar[OrderChange]
    ORDER_CHANGE_PULL_SUCCESS: _ClassVar[OrderChange]
    ORDER_CHANGE_TRADE: _ClassVar[OrderChange]
    ORDER_CHANGE_TRADE_COMPLETED: _ClassVar[OrderChange]
    ORDER_CHANGE_TRADE_BUSTED: _ClassVar[OrderChange]
    ORDER_CHANGE_ROLLOVER: _ClassVar[OrderChange]

class ResponsePending(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RESPONSE_PENDING_NONE: _ClassVar[ResponsePending]

class PriceType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PRICE_TYPE_MARKET: _ClassVar[PriceType]
BUY_SELL_UNDEFINED: BuySell
BUY_SELL_BUY: BuySell
BUY_SELL_SELL: BuySell
ORDER_STATUS_NONE: OrderStatus
ORDER_STATUS_WORKING: OrderStatus
ORDER_STATUS_FINISHED: OrderStatus
ORDER_STATUS_REJECTED: OrderStatus
ORDER_STATUS_HELD: OrderStatus
ORDER_STATUS_NO_CHANGE: OrderStatus
ORDER_CHANGE_NONE: OrderChange
ORDER_CHANGE_FAILED: OrderChange
ORDER_CHANGE_SUBMISSION_SUCCESS: OrderChange
ORDER_CHANGE_SUBMISSION_REJECTED: OrderChange
ORDER_CHANGE_PULL_SUCCESS: OrderChange
ORDER_CHANGE_TRADE: OrderChange
ORDER_CHANGE_TRADE_COMPLETED: OrderChange
ORDER_CHANGE_TRADE_BUSTED: OrderChange
ORDER_CHANGE_ROLLOVER: OrderChange
RESPONSE_PENDING_NONE: ResponsePending
PRICE_TYPE_MARKET: PriceType

class OrderUpdate(_message.Message):
    __slots__ = ("unique_id", "account_id", "market_id", "time", "exchange_time", "change", "status", "status_detail", "exchange_order_id", "submit_time", "trade_date", "exchange_id", "user_id", "user_name", "buy_sell", "price_type", "current_volume", "account_number", "tag", "total_fill_volume", "working_volume", "sequence_order", "trades", "trade_legs")
    class Trade(_message.Message):
        __slots__ = ("sequence_order", "volume", "price", "residual_volume", "time", "exchange_trade_id", "exchange_time", "contra_trader", "contra_broker", "trade_date")
        SEQUENCE_ORDER_FIELD_NUMBER: _ClassVar[int]
        VOLUME_FIELD_NUMBER: _ClassVar[int]
        PRICE_FIELD_NUMBER: _ClassVar[int]
        RESIDUAL_VOLUME_FIELD_NUMBER: _ClassVar[int]
        TIME_FIELD_NUMBER: _ClassVar[int]
        EXCHANGE_TRADE_ID_FIELD_NUMBER: _ClassVar[int]
        EXCHANGE_TIME_FIELD_NUMBER: _ClassVar[int]
        CONTRA_TRADER_FIELD_NUMBER: _ClassVar[int]
        CONTRA_BROKER_FIELD_NUMBER: _ClassVar[int]
        TRADE_DATE_FIELD_NUMBER: _ClassVar[int]
        sequence_order: int
        volume: int
        price: _common_pb2.Price
        residual_volume: int
        time: _timestamp_pb2.Timestamp
        exchange_trade_id: str
        exchange_time: _timestamp_pb2.Timestamp
        contra_trader: str
        contra_broker: str
        trade_date: int
        def __init__(self, sequence_order: _Optional[int] = ..., volume: _Optional[int] = ..., price: _Optional[_Union[_common_pb2.Price, _Mapping]] = ..., residual_volume: _Optional[int] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., exchange_trade_id: _Optional[str] = ..., exchange_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., contra_trader: _Optional[str] = ..., contra_broker: _Optional[str] = ..., trade_date: _Optional[int] = ...) -> None: ...
    class TradeLeg(_message.Message):
        __slots__ = ("sequence_order", "leg_index", "volume", "price", "time", "exchange_trade_id", "exchange_time", "contra_trader", "contra_broker", "residual_volume", "trade_date")
        SEQUENCE_ORDER_FIELD_NUMBER: _ClassVar[int]
        LEG_INDEX_FIELD_NUMBER: _ClassVar[int]
        VOLUME_FIELD_NUMBER: _ClassVar[int]
        PRICE_FIELD_NUMBER: _ClassVar[int]
        TIME_FIELD_NUMBER: _ClassVar[int]
        EXCHANGE_TRADE_ID_FIELD_NUMBER: _ClassVar[int]
        EXCHANGE_TIME_FIELD_NUMBER: _ClassVar[int]
        CONTRA_TRADER_FIELD_NUMBER: _ClassVar[int]
        CONTRA_BROKER_FIELD_NUMBER: _ClassVar[int]
        RESIDUAL_VOLUME_FIELD_NUMBER: _ClassVar[int]
        TRADE_DATE_FIELD_NUMBER: _ClassVar[int]
        sequence_order: int
        leg_index: int
        volume: int
        price: _common_pb2.Price
        time: _timestamp_pb2.Timestamp
        exchange_trade_id: str
        exchange_time: _timestamp_pb2.Timestamp
        contra_trader: str
        contra_broker: str
        residual_volume: int
        trade_date: int
        def __init__(self, sequence_order: _Optional[int] = ..., leg_index: _Optional[int] = ..., volume: _Optional[int] = ..., price: _Optional[_Union[_common_pb2.Price, _Mapping]] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., exchange_trade_id: _Optional[str] = ..., exchange_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., contra_trader: _Optional[str] = ..., contra_broker: _Optional[str] = ..., residual_volume: _Optional[int] = ..., trade_date: _Optional[int] = ...) -> None: ...
    UNIQUE_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    MARKET_ID_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    EXCHANGE_TIME_FIELD_NUMBER: _ClassVar[int]
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STATUS_DETAIL_FIELD_NUMBER: _ClassVar[int]
    EXCHANGE_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    SUBMIT_TIME_FIELD_NUMBER: _ClassVar[int]
    TRADE_DATE_FIELD_NUMBER: _ClassVar[int]
    EXCHANGE_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    USER_NAME_FIELD_NUMBER: _ClassVar[int]
    BUY_SELL_FIELD_NUMBER: _ClassVar[int]
    PRICE_TYPE_FIELD_NUMBER: _ClassVar[int]
    CURRENT_VOLUME_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_NUMBER_FIELD_NUMBER: _ClassVar[int]
    TAG_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FILL_VOLUME_FIELD_NUMBER: _ClassVar[int]
    WORKING_VOLUME_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_ORDER_FIELD_NUMBER: _ClassVar[int]
    TRADES_FIELD_NUMBER: _ClassVar[int]
    TRADE_LEGS_FIELD_NUMBER: _ClassVar[int]
    unique_id: str
    account_id: str
    market_id: str
    time: _timestamp_pb2.Timestamp
    exchange_time: _timestamp_pb2.Timestamp
    change: OrderChange
    status: OrderStatus
    status_detail: str
    exchange_order_id: str
    submit_time: _timestamp_pb2.Timestamp
    trade_date: int
    exchange_id: str
    user_id: str
    user_name: str
    buy_sell: BuySell
    price_type: PriceType
    current_volume: int
    account_number: str
    tag: str
    total_fill_volume: int
    working_volume: int
    sequence_order: int
    trades: _containers.RepeatedCompositeFieldContainer[OrderUpdate.Trade]
    trade_legs: _containers.RepeatedCompositeFieldContainer[OrderUpdate.TradeLeg]
    def __init__(self, unique_id: _Optional[str] = ..., account_id: _Optional[str] = ..., market_id: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., exchange_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., change: _Optional[_Union[OrderChange, str]] = ..., status: _Optional[_Union[OrderStatus, str]] = ..., status_detail: _Optional[str] = ..., exchange_order_id: _Optional[str] = ..., submit_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., trade_date: _Optional[int] = ..., exchange_id: _Optional[str] = ..., user_id: _Optional[str] = ..., user_name: _Optional[str] = ..., buy_sell: _Optional[_Union[BuySell, str]] = ..., price_type: _Optional[_Union[PriceType, str]] = ..., current_volume: _Optional[int] = ..., account_number: _Optional[str] = ..., tag: _Optional[str] = ..., total_fill_volume: _Optional[int] = ..., working_volume: _Optional[int] = ..., sequence_order: _Optional[int] = ..., trades: _Optional[_Iterable[_Union[OrderUpdate.Trade, _Mapping]]] = ..., trade_legs: _Optional[_Iterable[_Union[OrderUpdate.TradeLeg, _Mapping]]] = ...) -> None: ...

class OrderUpdateTrade(_message.Message):
    __slots__ = ("unique_id", "account_id", "market_id", "time", "exchange_time", "change", "status", "status_detail", "response_pending", "total_fill_volume", "working_volume", "volume", "price", "residual_volume", "exchange_trade_id", "contra_trader", "contra_broker", "trade_date", "sequence_order")
    UNIQUE_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    MARKET_ID_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    EXCHANGE_TIME_FIELD_NUMBER: _ClassVar[int]
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STATUS_DETAIL_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_PENDING_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FILL_VOLUME_FIELD_NUMBER: _ClassVar[int]
    WORKING_VOLUME_FIELD_NUMBER: _ClassVar[int]
    VOLUME_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    RESIDUAL_VOLUME_FIELD_NUMBER: _ClassVar[int]
    EXCHANGE_TRADE_ID_FIELD_NUMBER: _ClassVar[int]
    CONTRA_TRADER_FIELD_NUMBER: _ClassVar[int]
    CONTRA_BROKER_FIELD_NUMBER: _ClassVar[int]
    TRADE_DATE_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_ORDER_FIELD_NUMBER: _ClassVar[int]
    unique_id: str
    account_id: str
    market_id: str
    time: _timestamp_pb2.Timestamp
    exchange_time: _timestamp_pb2.Timestamp
    change: OrderChange
    status: OrderStatus
    status_detail: str
    response_pending: ResponsePending
    total_fill_volume: int
    working_volume: int
    volume: int
    price: _common_pb2.Price
    residual_volume: int
    exchange_trade_id: str
    contra_trader: str
    contra_broker: str
    trade_date: int
    sequence_order: int
    def __init__(self, unique_id: _Optional[str] = ..., account_id: _Optional[str] = ..., market_id: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., exchange_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., change: _Optional[_Union[OrderChange, str]] = ..., status: _Optional[_Union[OrderStatus, str]] = ..., status_detail: _Optional[str] = ..., response_pending: _Optional[_Union[ResponsePending, str]] = ..., total_fill_volume: _Optional[int] = ..., working_volume: _Optional[int] = ..., volume: _Optional[int] = ..., price: _Optional[_Union[_common_pb2.Price, _Mapping]] = ..., residual_volume: _Optional[int] = ..., exchange_trade_id: _Optional[str] = ..., contra_trader: _Optional[str] = ..., contra_broker: _Optional[str] = ..., trade_date: _Optional[int] = ..., sequence_order: _Optional[int] = ...) -> None: ...

class OrderUpdateTradeLeg(_message.Message):
    __slots__ = ("unique_id", "account_id", "market_id", "time", "exchange_time", "change", "status", "status_detail", "response_pending", "leg_index", "volume", "price", "exchange_trade_id", "contra_trader", "contra_broker", "residual_volume", "trade_date", "sequence_order")
    UNIQUE_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    MARKET_ID_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    EXCHANGE_TIME_FIELD_NUMBER: _ClassVar[int]
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STATUS_DETAIL_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_PENDING_FIELD_NUMBER: _ClassVar[int]
    LEG_INDEX_FIELD_NUMBER: _ClassVar[int]
    VOLUME_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    EXCHANGE_TRADE_ID_FIELD_NUMBER: _ClassVar[int]
    CONTRA_TRADER_FIELD_NUMBER: _ClassVar[int]
    CONTRA_BROKER_FIELD_NUMBER: _ClassVar[int]
    RESIDUAL_VOLUME_FIELD_NUMBER: _ClassVar[int]
    TRADE_DATE_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_ORDER_FIELD_NUMBER: _ClassVar[int]
    unique_id: str
    account_id: str
    market_id: str
    time: _timestamp_pb2.Timestamp
    exchange_time: _timestamp_pb2.Timestamp
    change: OrderChange
    status: OrderStatus
    status_detail: str
    response_pending: ResponsePending
    leg_index: int
    volume: int
    price: _common_pb2.Price
    exchange_trade_id: str
    contra_trader: str
    contra_broker: str
    residual_volume: int
    trade_date: int
    sequence_order: int
    def __init__(self, unique_id: _Optional[str] = ..., account_id: _Optional[str] = ..., market_id: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., exchange_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., change: _Optional[_Union[OrderChange, str]] = ..., status: _Optional[_Union[OrderStatus, str]] = ..., status_detail: _Optional[str] = ..., response_pending: _Optional[_Union[ResponsePending, str]] = ..., leg_index: _Optional[int] = ..., volume: _Optional[int] = ..., price: _Optional[_Union[_common_pb2.Price, _Mapping]] = ..., exchange_trade_id: _Optional[str] = ..., contra_trader: _Optional[str] = ..., contra_broker: _Optional[str] = ..., residual_volume: _Optional[int] = ..., trade_date: _Optional[int] = ..., sequence_order: _Optional[int] = ...) -> None: ...

class OrderUpdateStatus(_message.Message):
    __slots__ = ("unique_id", "account_id", "market_id", "time", "exchange_time", "change", "status", "status_detail", "exchange_order_id", "sequence_order")
    UNIQUE_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    MARKET_ID_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    EXCHANGE_TIME_FIELD_NUMBER: _ClassVar[int]
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STATUS_DETAIL_FIELD_NUMBER: _ClassVar[int]
    EXCHANGE_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_ORDER_FIELD_NUMBER: _ClassVar[int]
    unique_id: str
    account_id: str
    market_id: str
    time: _timestamp_pb2.Timestamp
    exchange_time: _timestamp_pb2.Timestamp
    change: OrderChange
    status: OrderStatus
    status_detail: str
    exchange_order_id: str
    sequence_order: int
    def __init__(self, unique_id: _Optional[str] = ..., account_id: _Optional[str] = ..., market_id: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., exchange_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., change: _Optional[_Union[OrderChange, str]] = ..., status: _Optional[_Union[OrderStatus, str]] = ..., status_detail: _Optional[str] = ..., exchange_order_id: _Optional[str] = ..., sequence_order: _Optional[int] = ...) -> None: ...

class OrderUpdateFailed(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class OrderUpdateMultiMessage(_message.Message):
    __slots__ = ("order_update", "order_update_failed", "order_update_status", "order_update_trade", "order_update_trade_leg")
    ORDER_UPDATE_FIELD_NUMBER: _ClassVar[int]
    ORDER_UPDATE_FAILED_FIELD_NUMBER: _ClassVar[int]
    ORDER_UPDATE_STATUS_FIELD_NUMBER: _ClassVar[int]
    ORDER_UPDATE_TRADE_FIELD_NUMBER: _ClassVar[int]
    ORDER_UPDATE_TRADE_LEG_FIELD_NUMBER: _ClassVar[int]
    order_update: OrderUpdate
    order_update_failed: OrderUpdateFailed
    order_update_status: OrderUpdateStatus
    order_update_trade: OrderUpdateTrade
    order_update_trade_leg: OrderUpdateTradeLeg
    def __init__(self, order_update: _Optional[_Union[OrderUpdate, _Mapping]] = ..., order_update_failed: _Optional[_Union[OrderUpdateFailed, _Mapping]] = ..., order_update_status: _Optional[_Union[OrderUpdateStatus, _Mapping]] = ..., order_update_trade: _Optional[_Union[OrderUpdateTrade, _Mapping]] = ..., order_update_trade_leg: _Optional[_Union[OrderUpdateTradeLeg, _Mapping]] = ...) -> None: ...

class OrderUpdateMulti(_message.Message):
    __slots__ = ("market_id", "account_id", "historical", "updates")
    MARKET_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    HISTORICAL_FIELD_NUMBER: _ClassVar[int]
    UPDATES_FIELD_NUMBER: _ClassVar[int]
    market_id: str
    account_id: str
    historical: bool
    updates: _containers.RepeatedCompositeFieldContainer[OrderUpdateMultiMessage]
    def __init__(self, market_id: _Optional[str] = ..., account_id: _Optional[str] = ..., historical: _Optional[bool] = ..., updates: _Optional[_Iterable[_Union[OrderUpdateMultiMessage, _Mapping]]] = ...) -> None: ...
