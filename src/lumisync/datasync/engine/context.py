"""Everything one run needs to know about its integration, read once at the start of the run."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from django.conf import settings

from lumisync.datasync import services as integration_services
from lumisync.datasync.engine.mapping import Column, MappingPlan
from lumisync.datasync.engine.policy import PROFILE_FIELDS, PathChoice, Rules
from lumisync.datasync.mappings import DEFAULTS_BY_FIELD
from lumisync.datasync.models import OPT_IN_FIELD, FieldMapping, Integration, MappingKind
from lumisync.luminate import SiteConfig
from lumisync.subscribers.models import OptInPath, Profile


@dataclass(frozen=True)
class GroupRoute:
    group_id: str
    path: OptInPath


@dataclass
class SyncContext:
    integration: Integration
    plan: MappingPlan
    rules: Rules
    default_path: OptInPath | None
    group_routes: tuple[GroupRoute, ...]
    synced_campaign_ids: frozenset[int]
    donation_headings: dict[str, str]

    @property
    def organization(self):
        return self.integration.organization

    def choice(self, path: OptInPath | None) -> PathChoice | None:
        if path is None:
            return None
        return PathChoice(path.pk, path.name, path.requires_confirmation)

    def path_for_groups(self, group_ids: set[str]) -> OptInPath | None:
        """The first group mapping the constituent's groups match, else the default path."""
        for route in self.group_routes:
            if route.group_id in group_ids:
                return route.path
        return self.default_path

    @property
    def paths_by_id(self) -> dict[int, OptInPath]:
        paths = [route.path for route in self.group_routes]
        if self.default_path is not None:
            paths.append(self.default_path)
        return {path.pk: path for path in paths}


def site_config(integration: Integration) -> SiteConfig:
    """The integration's Luminate client settings, with the operator's ``LUMISYNC_LUMINATE_CLIENT``
    overrides (a dict of :class:`SiteConfig` fields such as ``read_timeout`` or ``retry``) applied."""
    site = integration_services.luminate_site_config(integration)
    overrides = getattr(settings, "LUMISYNC_LUMINATE_CLIENT", None)
    return dataclasses.replace(site, **overrides) if overrides else site


def _column(row: FieldMapping, integration: Integration) -> Column:
    default = DEFAULTS_BY_FIELD.get(row.field)
    attribute = default.attribute if default else ""
    api_name = integration.opt_in_field if row.field == OPT_IN_FIELD else row.api_field_name
    return Column(attribute, api_name, row.csv_heading)


def load_context(integration: Integration) -> SyncContext:
    integration = Integration.objects.select_related("organization", "default_opt_in_path__campaign").get(
        pk=integration.pk
    )
    rows = list(integration.field_mappings.all())
    columns = {row.field: _column(row, integration) for row in rows}
    profile_columns = tuple(
        columns[row.field]
        for row in rows
        if row.kind == MappingKind.CONSTITUENT
        and row.field not in (OPT_IN_FIELD, "phone_number", "constituent_id")
        and columns[row.field].attribute
    )
    required = frozenset(
        columns[row.field].attribute for row in rows if row.required and columns[row.field].attribute
    )
    plan = MappingPlan(
        opt_in=columns.get(OPT_IN_FIELD, Column("", integration.opt_in_field, "")),
        phone=columns.get("phone_number", Column("phone_number", "mobile_phone", "MOBILE_PHONE")),
        constituent_id=columns.get("constituent_id", Column("constituent_id", "cons_id", "CONS_ID")),
        profile=profile_columns,
        donation=tuple(columns[row.field] for row in rows if row.kind == MappingKind.DONATION),
        required=required,
        region=integration.organization.phone_region,
    )
    routes = tuple(
        GroupRoute(mapping.group_id, mapping.opt_in_path)
        for mapping in integration.group_paths.select_related("opt_in_path__campaign").order_by(
            "position", "id"
        )
    )
    default_path = integration.default_opt_in_path
    campaigns = {route.path.campaign_id for route in routes}
    if default_path is not None:
        campaigns.add(default_path.campaign_id)
    center_ids = frozenset(part.strip() for part in integration.center_ids.split(",") if part.strip())
    return SyncContext(
        integration=integration,
        plan=plan,
        rules=Rules(
            sync_type=integration.sync_type,
            center_ids=center_ids,
            required_fields=required,
            conflict_policy=integration.conflict_policy,
            field_limits={
                name: Profile._meta.get_field(name).max_length for name in (*PROFILE_FIELDS, "constituent_id")
            },
        ),
        default_path=default_path,
        group_routes=routes,
        synced_campaign_ids=frozenset(campaigns),
        donation_headings={
            column.attribute: column.csv_heading for column in plan.donation if column.csv_heading
        },
    )
