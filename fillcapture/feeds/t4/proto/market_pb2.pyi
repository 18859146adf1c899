from fillcapture.feeds.t4.proto import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class MarketDetails(_message.Message):
    __slots__ = ("market_id", "exchange_id", "contract_id", "expiry_date", "decimals", "point_value", "legs", "strategy_type", "strategy_ratio", "underlying_market_id")
    class LegItem(_message.Message):
        __slots__ = ("market_id", "group", "volume", "delta", "price")
        MARKET_ID_FIELD_NUMBER: _ClassVar[int]
        GROUP_FIELD_NUMBER: _ClassVar[int]
        VOLUME_FIELD_NUMBER: _ClassVar[int]
        DELTA_FIELD_NUMBER: _ClassVar[int]
        PRICE_FIELD_NUMBER: _ClassVar[int]
        market_id: str
        group: int
        volume: int
        delta: str
        price: _common_pb2.Price
        def __init__(self, market_id: _Optional[str] = ..., group: _Optional[int] = ..., volume: _Optional[int] = ..., delta: _Optional[str] = ..., price: _Optional[_Union[_common_pb2.Price, _Mapping]] = ...) -> None: ...
    MARKET_ID_FIELD_NUMBER: _ClassVar[int]
    EXCHANGE_ID_FIELD_NUMBER: _ClassVar[int]
    CONTRACT_ID_FIELD_NUMBER: _ClassVar[int]
    EXPIRY_DATE_FIELD_NUMBER: _ClassVar[int]
    DECIMALS_FIELD_NUMBER: _ClassVar[int]
    POINT_VALUE_FIELD_NUMBER: _ClassVar[int]
    LEGS_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_TYPE_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_RATIO_FIELD_NUMBER: _ClassVar[int]
    UNDERLYING_MARKET_ID_FIELD_NUMBER: _ClassVar[int]
    market_id: str
    exchange_id: str
    contract_id: str
    expiry_date: int
    decimals: int
    point_value: _common_pb2.Decimal
    legs: _containers.RepeatedCompositeFieldContainer[MarketDetails.LegItem]
    strategy_type: int
    strategy_ratio: float
    underlying_market_id: str
    def __init__(self, market_id: _Optional[str] = ..., exchange_id: _Optional[str] = ..., contract_id: _Optional[str] = ..., expiry_date: _Optional[int] = ..., decimals: _Optional[int] = ..., point_value: _Optional[_Union[_common_pb2.Decimal, _Mapping]] = ..., legs: _Optional[_Iterable[_Union[MarketDetails.LegItem, _Mapping]]] = ..., strategy_type: _Optional[int] = ..., strategy_ratio: _Optional[float] = ..., underlying_market_id: _Optional[str] = ...) -> None: ...
