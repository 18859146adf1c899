from fillcapture.feeds.t4.proto import common_pb2 as _common_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class MarketDetails(_message.Message):
    __slots__ = ("market_id", "exchange_id", "contract_id", "expiry_date", "decimals", "point_value")
    MARKET_ID_FIELD_NUMBER: _ClassVar[int]
    EXCHANGE_ID_FIELD_NUMBER: _ClassVar[int]
    CONTRACT_ID_FIELD_NUMBER: _ClassVar[int]
    EXPIRY_DATE_FIELD_NUMBER: _ClassVar[int]
    DECIMALS_FIELD_NUMBER: _ClassVar[int]
    POINT_VALUE_FIELD_NUMBER: _ClassVar[int]
    market_id: str
    exchange_id: str
    contract_id: str
    expiry_date: int
    decimals: int
    point_value: _common_pb2.Decimal
    def __init__(self, market_id: _Optional[str] = ..., exchange_id: _Optional[str] = ..., contract_id: _Optional[str] = ..., expiry_date: _Optional[int] = ..., decimals: _Optional[int] = ..., point_value: _Optional[_Union[_common_pb2.Decimal, _Mapping]] = ...) -> None: ...
