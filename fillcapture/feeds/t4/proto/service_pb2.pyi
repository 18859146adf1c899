from fillcapture.feeds.t4.proto import auth_pb2 as _auth_pb2
from fillcapture.feeds.t4.proto import account_pb2 as _account_pb2
from fillcapture.feeds.t4.proto import market_pb2 as _market_pb2
from fillcapture.feeds.t4.proto import orderrouting_pb2 as _orderrouting_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Heartbeat(_message.Message):
    __slots__ = ("timestamp",)
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    timestamp: int
    def __init__(self, timestamp: _Optional[int] = ...) -> None: ...

class ClientMessage(_message.Message):
    __slots__ = ("heartbeat", "login_request", "authentication_token_request", "account_subscribe")
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    LOGIN_REQUEST_FIELD_NUMBER: _ClassVar[int]
    AUTHENTICATION_TOKEN_REQUEST_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_SUBSCRIBE_FIELD_NUMBER: _ClassVar[int]
    heartbeat: Heartbeat
    login_request: _auth_pb2.LoginRequest
    authentication_token_request: _auth_pb2.AuthenticationTokenRequest
    account_subscribe: _account_pb2.AccountSubscribe
    def __init__(self, heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ..., login_request: _Optional[_Union[_auth_pb2.LoginRequest, _Mapping]] = ..., authentication_token_request: _Optional[_Union[_auth_pb2.AuthenticationTokenRequest, _Mapping]] = ..., account_subscribe: _Optional[_Union[_account_pb2.AccountSubscribe, _Mapping]] = ...) -> None: ...

class ServerMessage(_message.Message):
    __slots__ = ("heartbeat", "login_response", "authentication_token", "market_details", "account_subscribe_response", "account_details", "account_snapshot", "order_update", "order_update_multi", "order_update_failed", "order_update_status", "order_update_trade", "order_update_trade_leg")
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    LOGIN_RESPONSE_FIELD_NUMBER: _ClassVar[int]
    AUTHENTICATION_TOKEN_FIELD_NUMBER: _ClassVar[int]
    MARKET_DETAILS_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_SUBSCRIBE_RESPONSE_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_DETAILS_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    ORDER_UPDATE_FIELD_NUMBER: _ClassVar[int]
    ORDER_UPDATE_MULTI_FIELD_NUMBER: _ClassVar[int]
    ORDER_UPDATE_FAILED_FIELD_NUMBER: _ClassVar[int]
    ORDER_UPDATE_STATUS_FIELD_NUMBER: _ClassVar[int]
    ORDER_UPDATE_TRADE_FIELD_NUMBER: _ClassVar[int]
    ORDER_UPDATE_TRADE_LEG_FIELD_NUMBER: _ClassVar[int]
    heartbeat: Heartbeat
    login_response: _auth_pb2.LoginResponse
    authentication_token: _auth_pb2.AuthenticationToken
    market_details: _market_pb2.MarketDetails
    account_subscribe_response: _account_pb2.AccountSubscribeResponse
    account_details: _account_pb2.AccountDetails
    account_snapshot: _account_pb2.AccountSnapshot
    order_update: _orderrouting_pb2.OrderUpdate
    order_update_multi: _orderrouting_pb2.OrderUpdateMulti
    order_update_failed: _orderrouting_pb2.OrderUpdateFailed
    order_update_status: _orderrouting_pb2.OrderUpdateStatus
    order_update_trade: _orderrouting_pb2.OrderUpdateTrade
    order_update_trade_leg: _orderrouting_pb2.OrderUpdateTradeLeg
    def __init__(self, heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ..., login_response: _Optional[_Union[_auth_pb2.LoginResponse, _Mapping]] = ..., authentication_token: _Optional[_Union[_auth_pb2.AuthenticationToken, _Mapping]] = ..., market_details: _Optional[_Union[_market_pb2.MarketDetails, _Mapping]] = ..., account_subscribe_response: _Optional[_Union[_account_pb2.AccountSubscribeResponse, _Mapping]] = ..., account_details: _Optional[_Union[_account_pb2.AccountDetails, _Mapping]] = ..., account_snapshot: _Optional[_Union[_account_pb2.AccountSnapshot, _Mapping]] = ..., order_update: _Optional[_Union[_orderrouting_pb2.OrderUpdate, _Mapping]] = ..., order_update_multi: _Optional[_Union[_orderrouting_pb2.OrderUpdateMulti, _Mapping]] = ..., order_update_failed: _Optional[_Union[_orderrouting_pb2.OrderUpdateFailed, _Mapping]] = ..., order_update_status: _Optional[_Union[_orderrouting_pb2.OrderUpdateStatus, _Mapping]] = ..., order_update_trade: _Optional[_Union[_orderrouting_pb2.OrderUpdateTrade, _Mapping]] = ..., order_update_trade_leg: _Optional[_Union[_orderrouting_pb2.OrderUpdateTradeLeg, _Mapping]] = ...) -> None: ...
