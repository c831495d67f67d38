//! Seeding the demo city into a store.

use crate::App;
use polis_base::Result;
use polis_domain::{Actor, Id};

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
        self.import(&system, city.sensors).await?;
        Ok(true)
    }
}
