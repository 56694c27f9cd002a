"""JSON schemas (OpenAPI 3.0 components) of API v1 bodies; the serializers in ``api_schema`` and
``api_schema_read`` produce exactly these shapes (tests validate responses against them)."""

from __future__ import annotations

from typing import Any

TAGS = {
    "auth": "认证与当前用户",
    "inbox": "待办、已办、我发起的、统计",
    "tasks": "任务详情与办理",
    "cases": "案件与办理记录",
    "cycles": "考核年度、参加单位、目标（三上三下版本与下达指标）",
    "results": "考核结果与加扣分台账",
    "letters": "目标责任书与承诺书",
    "notifications": "站内消息",
    "meta": "接口文档",
}


def ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(required: dict[str, Any], optional: dict[str, Any] | None = None) -> dict[str, Any]:
    props = {**required, **(optional or {})}
    return {"type": "object", "required": list(required), "properties": props}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        return {"nullable": True, "allOf": [schema]}
    return {**schema, "nullable": True}


def _page(item: str, **extra: Any) -> dict[str, Any]:
    return _obj({"items": {"type": "array", "items": ref(item)}, "total": INT, "page": INT, "per_page": INT, **extra})


INT = {"type": "integer"}
STR = {"type": "string"}
BOOL = {"type": "boolean"}
TIME = {"type": "string", "format": "date-time", "description": "UTC，ISO 8601，以 Z 结尾"}
DATE = {"type": "string", "format": "date"}
DECIMAL = {"type": "string", "pattern": r"^-?\d+(\.\d+)?$", "description": "十进制数（字符串，保留精度）"}
N_INT, N_STR, N_TIME, N_DATE = _nullable(INT), _nullable(STR), _nullable(TIME), _nullable(DATE)
ANY_OBJECT = {"type": "object", "additionalProperties": True}

SCHEMAS: dict[str, Any] = {
    "Error": _obj({"error": _obj(
        {"code": INT, "message": STR},
        {"fields": {"type": "object", "additionalProperties": True, "description": "字段名 → 错误信息列表"}},
    )}),
    "Unit": _obj({"id": INT, "code": STR, "name": STR}),
    "UserRef": _obj({"id": INT, "name": STR}),
    "Group": _obj({"id": INT, "code": STR, "name": STR}),
    "Token": _obj({"token": STR, "token_type": {"type": "string", "enum": ["Bearer"]}, "expires_at": TIME}),
    "TokenRequest": _obj({"username": STR, "password": STR}),
    "CsrfToken": _obj({"csrf_token": STR}),
    "Me": _obj({
        "id": INT, "username": STR, "name": STR, "unit": _nullable(ref("Unit")),
        "roles": {"type": "array", "items": _obj({"role": STR, "unit": ref("Unit")})}, "is_admin": BOOL,
    }),
    # ---- tasks
    "TaskSummary": _obj({
        "id": INT, "name": STR, "step": STR, "process": STR, "case_id": INT, "case_title": STR,
        "unit": ref("Unit"), "role": STR, "role_label": STR, "created_at": TIME, "due_at": N_TIME,
        "overdue": BOOL,
    }),
    "FieldSpec": _obj({
        "name": STR, "label": STR, "type": STR, "required": BOOL,
        "choices": {"type": "array", "items": {"type": "array", "items": STR}},
        "help": STR, "minimum": _nullable({"type": "number"}), "maximum": _nullable({"type": "number"}),
        "item_fields": {"type": "array", "items": ref("FieldSpec")},
    }),
    "TaskDetail": {"allOf": [ref("TaskSummary"), _obj({
        "status": STR, "form_key": N_STR, "completed_at": N_TIME, "completed_by": _nullable(ref("UserRef")),
        "outcome": N_STR, "fields": {"type": "array", "items": ref("FieldSpec")},
    })]},
    "TaskPage": _page("TaskSummary"),
    "DoneTask": {"allOf": [ref("TaskSummary"), _obj({
        "status": STR, "outcome": N_STR, "completed_at": N_TIME, "case_status": STR,
    })]},
    "DoneTaskPage": _page("DoneTask"),
    "NextTask": _obj({"id": INT, "name": STR, "step": STR, "role": STR, "due_at": N_TIME}),
    "CompleteRequest": _obj({"data": {**ANY_OBJECT, "description": "步骤数据，字段见 GET /tasks/{id} 的 fields"}}),
    "CompleteResult": _obj({
        "case_id": INT, "case_status": STR, "current_step": N_STR,
        "next_tasks": {"type": "array", "items": ref("NextTask")},
    }),
    "Counts": _obj({"todo": INT, "overdue": INT, "unread": INT}),
    "Facets": _obj({
        "cycles": {"type": "array", "items": _obj({"id": INT, "title": STR})},
        "units": {"type": "array", "items": _obj({"id": INT, "name": STR})},
        "processes": {"type": "array", "items": _obj({"key": STR, "name": STR})},
        "steps": {"type": "array", "items": _obj({"key": STR, "name": STR})},
    }),
    # ---- cases
    "CaseItem": _obj({
        "id": INT, "title": STR, "process": STR, "status": STR, "current_step": N_STR, "unit": ref("Unit"),
        "cycle_id": N_INT, "started_at": TIME, "completed_at": N_TIME,
    }),
    "CasePage": _page("CaseItem"),
    "CaseSummary": {"allOf": [ref("CaseItem"), _obj({
        "started_by": _nullable(ref("UserRef")), "open_tasks": {"type": "array", "items": ref("NextTask")},
    })]},
    "CaseEvent": _obj({
        "id": INT, "action": STR, "step": N_STR, "user": _nullable(ref("UserRef")), "comment": N_STR,
        "data": {"nullable": True, "description": "动作数据（任意 JSON）"}, "created_at": TIME,
    }),
    "CaseHistory": _obj({"items": {"type": "array", "items": ref("CaseEvent")}}),
    # ---- cycles and targets
    "Cycle": _obj({
        "id": INT, "year": INT, "title": STR, "status": STR, "starts_on": N_DATE, "ends_on": N_DATE,
        "scheme_due_on": N_DATE, "targets_due_on": N_DATE, "letters_due_on": N_DATE,
        "assessment_due_on": N_DATE, "created_at": TIME,
    }),
    "CycleList": _obj({"items": {"type": "array", "items": ref("Cycle")}}),
    "Participant": _obj({
        "unit": ref("Unit"), "group": ref("Group"), "tier": N_STR, "issued_version_id": N_INT,
        "issued_at": N_TIME,
    }),
    "CycleDetail": {"allOf": [ref("Cycle"), _obj({
        "settings": ANY_OBJECT, "participants": {"type": "array", "items": ref("Participant")},
    })]},
    "TargetVersion": _obj({
        "id": INT, "case_id": INT, "number": INT, "stage": STR, "stage_label": STR, "tier": N_STR,
        "note": N_STR, "sha256": STR, "created_by": _nullable(ref("UserRef")), "created_at": TIME,
        "items": {"type": "array", "items": ANY_OBJECT},
    }),
    "Indicator": _obj({
        "id": INT, "part": STR, "code": STR, "name": STR, "points": DECIMAL, "unit_id": N_INT,
        "target_value": N_STR, "measure_unit": N_STR, "scoring_rule": N_STR, "lead_name": N_STR,
        "department_id": N_INT, "responsible_name": N_STR, "deadline": N_DATE, "version_id": N_INT,
        "issued_at": N_TIME,
    }),
    "Targets": _obj({
        "cycle_id": INT, "unit": ref("Unit"), "participates": BOOL, "tier": N_STR,
        "issued_version": _nullable(ref("TargetVersion")),
        "versions": {"type": "array", "items": ref("TargetVersion")},
        "indicators": {"type": "array", "items": ref("Indicator")},
    }),
    # ---- results and ledger
    "UnitResult": _obj({
        "id": INT, "cycle_id": INT, "unit": ref("Unit"), "group_id": INT, "case_id": N_INT,
        "publication_id": N_INT, "revision": INT, "common": DECIMAL, "individual": DECIMAL, "tier": STR,
        "satisfaction": DECIMAL, "social": DECIMAL, "bonus": DECIMAL, "deductions": DECIMAL, "veto": BOOL,
        "total": DECIMAL, "rank": INT, "grade": STR, "excellent_quota": INT,
        "flags": {"type": "array", "items": STR}, "reason": N_STR, "created_at": TIME,
    }),
    "ResultList": _obj({"items": {"type": "array", "items": ref("UnitResult")}}),
    "LedgerItem": _obj({
        "id": INT, "cycle_id": INT, "unit": ref("Unit"), "kind": STR, "kind_label": STR, "points": DECIMAL,
        "month": STR, "reason": STR, "source": STR, "source_id": N_INT, "indicator_id": N_INT, "status": STR,
        "replaces_id": N_INT, "recorded_by_id": N_INT, "recorded_at": TIME,
    }),
    "LedgerPage": _page("LedgerItem"),
    # ---- letters
    "Letter": _obj({
        "id": INT, "cycle_id": INT, "unit": ref("Unit"), "kind": STR, "kind_label": STR, "title": STR,
        "status": STR, "department": _nullable(_obj({"id": INT, "name": STR})), "party_a": ref("UserRef"),
        "party_b": ref("UserRef"), "version_id": INT, "case_id": N_INT, "parent_letter_id": N_INT,
        "due_on": N_DATE, "overdue": BOOL, "created_at": TIME, "signed_at": N_TIME,
    }),
    "LetterPage": _page("Letter"),
    "LetterDetail": {"allOf": [ref("Letter"), _obj({
        "body": STR, "sha256": STR,
        "signatures": {"type": "array", "items": _obj({
            "party": STR, "user": ref("UserRef"), "digest": STR, "signed_at": TIME,
        })},
    })]},
    # ---- notifications
    "Notification": _obj({
        "id": INT, "kind": STR, "kind_label": STR, "title": STR, "body": N_STR, "link": N_STR,
        "case_id": N_INT, "task_id": N_INT, "created_at": TIME, "read_at": N_TIME,
    }),
    "NotificationPage": _page("Notification", unread=INT),
    "MarkReadRequest": {
        "type": "object",
        "properties": {"ids": {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
                               "maxItems": 500, "description": "要标为已读的消息；省略则全部标为已读"}},
    },
    "MarkReadResult": _obj({"marked": INT, "unread": INT}),
    "OpenApiDocument": ANY_OBJECT,
}
