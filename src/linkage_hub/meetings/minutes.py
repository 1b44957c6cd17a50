"""The minutes as a workbook for the file (会议纪要): a title block, the attendees, the agenda
with each finding's summary, every decision, and the thread. Built from the same
:class:`MeetingDetail` the JSON answers with, so the two never disagree."""

from __future__ import annotations

from fastapi.responses import StreamingResponse

from linkage_hub.clock import wall_clock
from linkage_hub.meetings.schemas import MeetingDetail
from linkage_hub.reports.discrepancies import DEPARTMENT_ZH, SEVERITY_ZH, STATUS_ZH
from linkage_hub.reports.streaming import XLSX_MEDIA_TYPE, content_disposition
from linkage_hub.reports.xlsx import Cell, Sheet, stream_xlsx
from linkage_hub.settings import Settings

AGENDA_HEADER = [
    "序号", "问题编号", "规则代码", "严重程度", "单位代码", "召开时状态", "当前状态", "责任部门",
    "摘要",
]  # fmt: skip
DECISION_HEADER = [
    "序号", "问题编号", "原状态", "决定", "理由", "承办部门", "整改期限", "文号",
]  # fmt: skip
COMMENT_HEADER = ["时间", "部门", "发言方", "内容"]
DECISION_ZH = {"acknowledged": "确认并限期整改", "waived": "豁免", "open": "退回待处理"}
WITHHELD = "（不在您的辖区）"


def _zh(department: str | None) -> str | None:
    return DEPARTMENT_ZH.get(department or "", department)


def xlsx(m: MeetingDetail, settings: Settings) -> StreamingResponse:
    attending = "、".join(_zh(d.value) or "" for d in m.departments)
    decided = wall_clock(m.decided_at, settings.zone)
    title = [
        f"联席会议纪要　{m.title}",
        f"纪要文号：{m.minutes_no}　地区：{m.region}　会议日期：{m.held_on.isoformat()}",
        f"参会部门：{attending}　召集：{_zh(m.convened_department.value)}",
        f"决定记录于：{decided.isoformat(sep=' ') if decided else '尚未记录'}"
        f"　生成日期：{settings.today().isoformat()}",
    ]
    agenda: list[list[Cell]] = [
        [
            a.position,
            a.finding_id,
            a.rule.value if a.rule else WITHHELD,
            SEVERITY_ZH.get(a.severity.value) if a.severity else None,
            a.unit_code,
            STATUS_ZH.get(a.status_then.value),
            STATUS_ZH.get(a.status.value) if a.status else None,
            "、".join(_zh(d.value) or "" for d in a.departments) or None,
            a.summary.zh if a.summary else None,
        ]
        for a in m.agenda
    ]
    decisions: list[list[Cell]] = [
        [
            d.position,
            d.finding_id,
            STATUS_ZH.get(d.from_status.value),
            DECISION_ZH[d.to.value],
            d.reason,
            _zh(d.responsible_department.value) if d.responsible_department else None,
            d.due_on,
            m.minutes_no,
        ]
        for d in m.decisions
    ]
    comments: list[list[Cell]] = [
        [wall_clock(c.at, settings.zone), _zh(c.department.value), c.client_id, c.body]
        for c in m.comments
    ]
    sheets = [
        Sheet("议题", AGENDA_HEADER, agenda, widths=[6, 34, 30, 9, 22, 12, 12, 16, 60],
              title_lines=title),
        Sheet("决定事项", DECISION_HEADER, decisions, widths=[6, 34, 12, 16, 40, 12, 12, 24]),
        Sheet("会商记录", COMMENT_HEADER, comments, widths=[20, 10, 30, 80]),
    ]  # fmt: skip
    name = f"联席会议纪要_{m.region}_{m.held_on.isoformat()}.xlsx"
    return StreamingResponse(
        stream_xlsx(sheets),
        media_type=XLSX_MEDIA_TYPE,
        headers={"Content-Disposition": content_disposition(name)},
    )
