//! Seeding the demo city into a store.

use crate::App;
use polis_base::Result;
use polis_domain::{Actor, Condition, Id, Rule, RuleScope, SensorKind, Severity};

impl App {
    /// Seeds the demo city of Kazanlak unless its municipality exists already. Returns whether
    /// it seeded. Every item is written through the normal paths, audited as `system`.
    pub async fn seed_demo(&self) -> Result<bool> {
        let m = Id::from_trusted(crate::demo::MUNICIPALITY);
        if self.registry().await.organisations.contains_key(&m) {
            return Ok(false);
        }
        let city = crate::demo::kazanlak();
        let system = Actor::system();
        // The municipality first: agencies and items refer to it.
        let (munis, agencies): (Vec<_>, Vec<_>) =
            city.organisations.into_iter().partition(|o| o.kind == polis_domain::OrgKind::Municipality);
        for org in munis.into_iter().chain(agencies) {
            self.put_organisation(&system, org).await?;
        }
        self.import(&system, city.sites).await?;
        self.import(&system, city.cameras).await?;
        let rivers: Vec<Id> = city
            .sensors
            .iter()
            .filter(|s| s.kind == SensorKind::WaterLevel && s.unit == "cm")
            .map(|s| s.id.clone())
            .collect();
        self.import(&system, city.sensors).await?;
        for rule in demo_rules(&m, &rivers) {
            self.put_rule(&system, rule).await?;
        }
        for &(id, agency, kind, name, lat, lon) in crate::demo::UNITS {
            let req = crate::incidents::UnitRequest {
                id: Some(Id::from_trusted(id)),
                agency: crate::demo::unit_agency(agency),
                name: name.to_string(),
                kind,
                status: None,
                position: Some(polis_domain::LatLon::new(lat, lon)?),
            };
            self.put_unit(&system, req).await?;
        }
        for &(kind, title, items) in crate::demo::PROCEDURES {
            let items: Vec<String> = items.iter().map(|s| s.to_string()).collect();
            self.put_procedure(&system, Some(m.clone()), kind, title, &items).await?;
        }
        Ok(true)
    }
}

/// The demo city's alarm rules: river warning and danger levels, silent water and rain gauges,
/// smog, jams.
fn demo_rules(m: &Id, rivers: &[Id]) -> Vec<Rule> {
    let rule = |id: String, name: String, scope: RuleScope, quantity: Option<&str>, condition, severity| Rule {
        id: Id::from_trusted(id),
        municipality: m.clone(),
        name,
        version: 1,
        enabled: true,
        scope,
        quantity: quantity.map(str::to_string),
        condition,
        severity,
    };
    let mut rules = Vec::new();
    for gauge in rivers {
        rules.push(rule(
            format!("demo-river-warning-{gauge}"),
            format!("Предупредително ниво / Warning level ({gauge})"),
            RuleScope::Sensor(gauge.clone()),
            None,
            Condition::Threshold { above: Some(400.0), below: None, hysteresis: 20.0 },
            Severity::Major,
        ));
        rules.push(rule(
            format!("demo-river-danger-{gauge}"),
            format!("Опасно ниво 5 мин / Danger level for 5 min ({gauge})"),
            RuleScope::Sensor(gauge.clone()),
            None,
            Condition::Duration { above: Some(450.0), below: None, hysteresis: 20.0, minutes: 5 },
            Severity::Critical,
        ));
    }
    rules.push(rule(
        "demo-gauge-silent".into(),
        "Водомерът мълчи / Gauge silent".into(),
        RuleScope::Kind { kind: SensorKind::WaterLevel, zone: None },
        None,
        Condition::Silence { minutes: 10 },
        Severity::Minor,
    ));
    rules.push(rule(
        "demo-rain-gauge-silent".into(),
        "Дъждомерът мълчи / Rain gauge silent".into(),
        RuleScope::Kind { kind: SensorKind::Rain, zone: None },
        None,
        Condition::Silence { minutes: 10 },
        Severity::Minor,
    ));
    rules.push(rule(
        "demo-smog".into(),
        "Смог ФПЧ10 / Smog PM10".into(),
        RuleScope::Kind { kind: SensorKind::AirQuality, zone: None },
        Some("pm10"),
        Condition::Threshold { above: Some(50.0), below: None, hysteresis: 5.0 },
        Severity::Major,
    ));
    rules.push(rule(
        "demo-traffic-jam".into(),
        "Задръстване / Traffic jam".into(),
        RuleScope::Kind { kind: SensorKind::TrafficSpeed, zone: None },
        None,
        Condition::Duration { above: None, below: Some(10.0), hysteresis: 5.0, minutes: 3 },
        Severity::Warning,
    ));
    rules
}

#[cfg(test)]
mod tests {
    use crate::App;
    use polis_domain::Actor;
    use std::sync::Arc;

    #[tokio::test]
    async fn the_demo_city_seeds_once_with_its_alarm_rules() {
        let store = polis_store::open("sqlite::memory:").await.unwrap();
        let app = App::open(store, Arc::new(polis_base::SystemClock)).await.unwrap();
        assert!(app.seed_demo().await.unwrap());
        assert!(!app.seed_demo().await.unwrap(), "a second start must not seed again");
        let system = Actor::system();
        let rules = app.rules(&system).await.unwrap();
        assert!(rules.iter().any(|r| r.id.as_str() == "demo-gauge-silent"));
        assert_eq!(app.units(&system).unwrap().len(), crate::demo::UNITS.len());
        assert_eq!(app.procedures(&system).unwrap().len(), polis_domain::incident::IncidentType::ALL.len());
        assert!(rules.iter().filter(|r| r.id.as_str().starts_with("demo-river-warning-")).count() >= 3);
        let cams: Vec<polis_domain::Camera> = app.list(&system).await.unwrap();
        assert!(cams.len() >= 60 && cams.iter().all(|c| c.demo));
    }
}
