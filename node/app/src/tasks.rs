//! Recurring review tasks: account managers set them up (what list, whose panel, how often,
//! who does it); the owner works through the list and marks it done, which records what was
//! left and schedules the next due date. The list is a panel-review list (its query words,
//! `worklist=mrp-unconfirmed`) or a registry's list, its probably-uncoded list, a care gap's
//! or the recall list (`list=registry&key=diabetes`): a registry is reviewed on a cadence
//! like any panel list. Each task is its own document
//! (`clinic/<c>/review/<task>`) and each completion another (`…/<task>/<completion>`), so
//! completions made on two nodes apart both count and nothing grows without bound.

use time::Date;
use tracing::info;

use attach_domain::{
    ClinicId, Completion, CompletionId, DueState, Frequency, ReviewQuery, ReviewTask, TaskId,
    UserId,
};
use attach_schema::work::{DONE_ITEM, KIND_REVIEW_DONE, KIND_REVIEW_TASK, TASK_ITEM, write_item};

use super::history::ChangeKind;
use super::{App, AppError, ClinicalList, ReviewScope};

/// A task as the task list shows it.
#[derive(Debug, Clone)]
pub struct TaskView {
    pub task: ReviewTask,
    pub next_due: Date,
    pub state: DueState,
    /// The latest completion.
    pub last: Option<Completion>,
    /// Patients on the task's list now (when the viewer may see it).
    pub on_list: Option<usize>,
    /// The list's name: "Unconfirmed MRP", "Diabetes registry".
    pub list_name: String,
    /// The list, when it is a clinical one (a registry's, a gap's, the recall list).
    pub clinical: Option<ClinicalList>,
}

/// What a task reviews.
#[derive(Debug, Clone)]
enum TaskList {
    Review(ReviewQuery),
    Clinical(ClinicalList),
}

/// A new task as typed.
#[derive(Debug, Clone)]
pub struct NewTask {
    pub title: String,
    pub provider: Option<UserId>,
    pub query: Vec<(String, String)>,
    pub frequency: Frequency,
    pub owner: UserId,
    pub first_due: Date,
}

fn scope_of(t: &ReviewTask) -> ReviewScope {
    t.provider
        .map_or(ReviewScope::Clinic, ReviewScope::Provider)
}

impl App {
    fn task_list(&self, t: &ReviewTask) -> Result<TaskList, AppError> {
        let pairs = || t.query.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        if let Some(list) = ClinicalList::from_pairs(pairs()) {
            return Ok(TaskList::Clinical(list?));
        }
        Ok(TaskList::Review(ReviewQuery::from_pairs(
            pairs(),
            self.clinic_today(),
        )?))
    }

    /// How many patients are on the task's list now, as its page first shows them.
    fn on_task_list(&self, who: UserId, t: &ReviewTask) -> Result<usize, AppError> {
        Ok(match self.task_list(t)? {
            TaskList::Review(q) => self.review_rows(who, t.clinic, scope_of(t), &q)?.len(),
            TaskList::Clinical(l) => self.worked_list(who, t.clinic, scope_of(t), &l)?.rows.len(),
        })
    }

    /// The list's name with the clinic's definitions.
    fn task_list_name(&self, clinic: ClinicId, list: &Result<TaskList, AppError>) -> String {
        match list {
            Ok(TaskList::Review(q)) => q
                .worklist
                .as_ref()
                .map_or_else(|| "Filtered list".to_owned(), |w| w.title()),
            Ok(TaskList::Clinical(l)) => {
                let model = self.model();
                l.title(&super::clinical::compiled_of(model.clinical.get(&clinic)))
            }
            Err(_) => "A list this version cannot read".to_owned(),
        }
    }

    /// The clinic's review tasks the person may see (the ones they own, and those on lists
    /// they may review), soonest due first; retired ones last.
    pub fn review_tasks(&self, who: UserId, clinic: ClinicId) -> Result<Vec<TaskView>, AppError> {
        self.tasks_of(who, clinic, true)
    }

    /// The clinic's review tasks of clinical lists (registries, care gaps, recalls) the
    /// person may see, without counting their lists (`on_list` is `None`): what a registry
    /// page shows beside each registry.
    pub fn clinical_review_tasks(
        &self,
        who: UserId,
        clinic: ClinicId,
    ) -> Result<Vec<TaskView>, AppError> {
        Ok(self
            .tasks_of(who, clinic, false)?
            .into_iter()
            .filter(|v| v.clinical.is_some())
            .collect())
    }

    fn tasks_of(
        &self,
        who: UserId,
        clinic: ClinicId,
        count: bool,
    ) -> Result<Vec<TaskView>, AppError> {
        let c = self.member_clinic(who, clinic)?;
        let today = self.clinic_today();
        let tasks: Vec<(ReviewTask, Vec<Completion>)> = {
            let model = self.model();
            model
                .review_tasks
                .values()
                .filter(|t| t.clinic == clinic)
                .map(|t| {
                    let done = model
                        .task_completions
                        .get(&t.id)
                        .cloned()
                        .unwrap_or_default();
                    (t.clone(), done)
                })
                .collect()
        };
        let mut out = Vec::new();
        for (task, done) in tasks {
            let list = self.task_list(&task);
            let on_list = if count {
                self.on_task_list(who, &task).ok()
            } else {
                None
            };
            let may_see = if count {
                on_list.is_some()
            } else {
                matches!(list, Ok(TaskList::Clinical(_)))
                    && self.clinical_panels(who, clinic, scope_of(&task)).is_ok()
            };
            if !may_see && task.owner != who && !c.is_account_manager(who) {
                continue;
            }
            let next_due = task.next_due(&done);
            out.push(TaskView {
                state: task.state_on(next_due, today),
                next_due,
                last: done.last().cloned(),
                on_list,
                list_name: self.task_list_name(clinic, &list),
                clinical: match list {
                    Ok(TaskList::Clinical(l)) => Some(l),
                    _ => None,
                },
                task,
            });
        }
        out.sort_by(|a, b| {
            (a.state == DueState::Retired)
                .cmp(&(b.state == DueState::Retired))
                .then(a.next_due.cmp(&b.next_due))
                .then(a.task.title.cmp(&b.task.title))
        });
        Ok(out)
    }

    /// How many of the person's own tasks at the clinic are due or overdue (the header's
    /// count). Cheap: the read model only.
    pub fn my_tasks_due(&self, who: UserId, clinic: ClinicId) -> usize {
        let today = self.clinic_today();
        let model = self.model();
        model
            .review_tasks
            .values()
            .filter(|t| t.clinic == clinic && t.owner == who && !t.retired)
            .filter(|t| {
                let done = model
                    .task_completions
                    .get(&t.id)
                    .map(Vec::as_slice)
                    .unwrap_or(&[]);
                t.state_on(t.next_due(done), today) <= DueState::Due
            })
            .count()
    }

    /// Sets up a recurring review (account managers). The list's query is checked like the
    /// review page's; the owner must be an active member; a provider must work here.
    pub fn create_review_task(
        &self,
        who: UserId,
        clinic: ClinicId,
        new: NewTask,
    ) -> Result<ReviewTask, AppError> {
        let c = self.member_clinic(who, clinic)?;
        super::registry::require_manager(&c, who)?;
        if !c.is_active_member(new.owner) {
            return Err(AppError::invalid(
                "owner",
                "the owner must be an active member of this clinic",
            ));
        }
        if let Some(p) = new.provider
            && !c.role_of(p).is_some_and(|r| r.is_licensed())
        {
            return Err(AppError::invalid(
                "provider",
                "not a provider at this clinic",
            ));
        }
        let task = ReviewTask {
            id: TaskId::new(),
            clinic,
            title: new.title.trim().to_owned(),
            provider: new.provider,
            query: new.query,
            frequency: new.frequency,
            owner: new.owner,
            first_due: new.first_due,
            created_at: self.now(),
            created_by: who,
            retired: false,
        };
        task.check()?;
        if let TaskList::Clinical(list) = self.task_list(&task)? {
            // The registry or rule must be one the clinic keeps, on lists the creator sees.
            self.worked_list(who, clinic, scope_of(&task), &list)
                .map_err(|e| match e {
                    AppError::NotFound(what) => AppError::invalid(
                        "worklist",
                        format!(
                            "there is no {what} called \"{}\"",
                            list.parts().1.unwrap_or("recalls")
                        ),
                    ),
                    e => e,
                })?;
        }
        self.write_task(who, &task, "create review task")?;
        info!(clinic = %clinic, task = %task.id, "review task created");
        Ok(task)
    }

    fn write_task(&self, who: UserId, task: &ReviewTask, what: &str) -> Result<(), AppError> {
        let id = attach_schema::ids::review_task_doc_id(task.clinic, task.id);
        let message = ChangeKind::Other(format!("{what} {}", task.id)).to_string();
        self.store().change(&id, who.0, &message, |tx| {
            write_item(tx, KIND_REVIEW_TASK, TASK_ITEM, Some(task)).map_err(AppError::from)
        })?;
        Ok(())
    }

    fn task_of(&self, clinic: ClinicId, task: TaskId) -> Result<ReviewTask, AppError> {
        self.model()
            .review_tasks
            .get(&task)
            .filter(|t| t.clinic == clinic)
            .cloned()
            .ok_or_else(|| AppError::not_found("review task"))
    }

    /// Marks the task done for its open due date (the owner or an account manager): records
    /// who, when, how many patients the list still holds and a note, and so schedules the
    /// next due date.
    pub fn complete_review_task(
        &self,
        who: UserId,
        clinic: ClinicId,
        task: TaskId,
        note: &str,
    ) -> Result<Completion, AppError> {
        let c = self.member_clinic(who, clinic)?;
        let t = self.task_of(clinic, task)?;
        if t.owner != who && !c.is_account_manager(who) {
            return Err(AppError::forbidden(
                "only the task's owner or an account manager can mark it done",
            ));
        }
        if t.retired {
            return Err(AppError::conflict("this task is retired"));
        }
        let remaining = self.on_task_list(who, &t)?;
        let done = {
            let model = self.model();
            let list = model
                .task_completions
                .get(&task)
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            t.next_due(list)
        };
        let completion = Completion {
            id: CompletionId::new(),
            task,
            due: done,
            at: self.now(),
            by: who,
            remaining,
            note: note.trim().to_owned(),
        };
        completion.check()?;
        let id = attach_schema::ids::review_done_doc_id(clinic, task, completion.id);
        let message = ChangeKind::Other(format!("complete review task {task}")).to_string();
        self.store().change(&id, who.0, &message, |tx| {
            write_item(tx, KIND_REVIEW_DONE, DONE_ITEM, Some(&completion)).map_err(AppError::from)
        })?;
        info!(clinic = %clinic, task = %task, remaining, "review task done");
        Ok(completion)
    }

    /// Retires a task (account managers): it no longer comes due; its record stays.
    pub fn retire_review_task(
        &self,
        who: UserId,
        clinic: ClinicId,
        task: TaskId,
    ) -> Result<ReviewTask, AppError> {
        let c = self.member_clinic(who, clinic)?;
        super::registry::require_manager(&c, who)?;
        let mut t = self.task_of(clinic, task)?;
        t.retired = true;
        self.write_task(who, &t, "retire review task")?;
        Ok(t)
    }

    /// Every completion of a task, oldest first (for whoever may see the task).
    pub fn task_completions(
        &self,
        who: UserId,
        clinic: ClinicId,
        task: TaskId,
    ) -> Result<Vec<Completion>, AppError> {
        let visible = self
            .review_tasks(who, clinic)?
            .into_iter()
            .any(|v| v.task.id == task);
        if !visible {
            return Err(AppError::not_found("review task"));
        }
        Ok(self
            .model()
            .task_completions
            .get(&task)
            .cloned()
            .unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use time::macros::{date, datetime};

    use super::*;
    use crate::ManualClock;
    use crate::tests::seeded_with;

    #[test]
    fn a_task_comes_due_is_done_and_schedules_the_next() {
        let clock = ManualClock::new(datetime!(2026-11-02 09:00 UTC));
        let (r, ids) = seeded_with(&clock, 60);
        let app = &r.app;
        let new = NewTask {
            title: "Unconfirmed MRP, Dr. Patel".into(),
            provider: Some(ids.patel),
            query: vec![("worklist".into(), "mrp-unconfirmed".into())],
            frequency: Frequency::Months { n: 3 },
            owner: ids.moa,
            first_due: date!(2026 - 11 - 05),
        };
        // Only account managers set tasks up.
        let err = app
            .create_review_task(ids.patel, ids.clinic, new.clone())
            .expect_err("a physician");
        assert!(matches!(err, AppError::Forbidden(_)), "{err:?}");
        let mut bad = new.clone();
        bad.query = vec![("worklist".into(), "nonsense".into())];
        assert!(matches!(
            app.create_review_task(ids.director, ids.clinic, bad),
            Err(AppError::Invalid { .. })
        ));
        let task = app
            .create_review_task(ids.director, ids.clinic, new)
            .expect("created");
        assert_eq!(
            app.my_tasks_due(ids.moa, ids.clinic),
            1,
            "due within a week"
        );
        assert_eq!(app.my_tasks_due(ids.patel, ids.clinic), 0);
        let views = app.review_tasks(ids.moa, ids.clinic).expect("lists");
        assert_eq!(views.len(), 1);
        assert_eq!(views[0].state, DueState::Due);
        let on_list = views[0].on_list.expect("the owner sees the list");
        // Dr. Nguyen reviews neither the panel nor owns the task.
        assert!(app.review_tasks(ids.nguyen, ids.clinic).unwrap().is_empty());
        // A week later it is overdue; the owner marks it done.
        clock.advance(time::Duration::days(7));
        assert_eq!(
            app.review_tasks(ids.moa, ids.clinic).unwrap()[0].state,
            DueState::Overdue
        );
        let err = app
            .complete_review_task(ids.nguyen, ids.clinic, task.id, "")
            .expect_err("not the owner");
        assert!(matches!(err, AppError::Forbidden(_)), "{err:?}");
        let done = app
            .complete_review_task(ids.moa, ids.clinic, task.id, "called 12 patients")
            .expect("done");
        assert_eq!(done.due, date!(2026 - 11 - 05));
        assert_eq!(done.remaining, on_list);
        let v = &app.review_tasks(ids.moa, ids.clinic).unwrap()[0];
        assert_eq!(v.next_due, date!(2027 - 02 - 05));
        assert_eq!(v.state, DueState::Upcoming);
        assert_eq!(app.my_tasks_due(ids.moa, ids.clinic), 0);
        assert_eq!(
            app.task_completions(ids.moa, ids.clinic, task.id)
                .unwrap()
                .len(),
            1
        );
        // Retired: kept, never due.
        app.retire_review_task(ids.director, ids.clinic, task.id)
            .expect("retired");
        assert_eq!(
            app.review_tasks(ids.moa, ids.clinic).unwrap()[0].state,
            DueState::Retired
        );
    }

    #[test]
    fn a_registry_is_reviewed_on_a_cadence_like_a_panel_list() {
        let (clock, r, ids) = crate::clinical::tests::clinic();
        let app = &r.app;
        crate::coding::tests::import_diabetic(&r, &ids);
        let diabetes = ClinicalList::Registry("diabetes".into());
        let on_registry = app
            .clinical_list(
                ids.moa,
                ids.clinic,
                ReviewScope::Provider(ids.patel),
                &diabetes,
            )
            .expect("list")
            .rows
            .len();
        assert!(on_registry > 0);
        let new = |query: Vec<(String, String)>| NewTask {
            title: "Diabetes registry review, Dr. Patel".into(),
            provider: Some(ids.patel),
            query,
            frequency: Frequency::Months { n: 3 },
            owner: ids.moa,
            first_due: date!(2026 - 11 - 05),
        };
        // Lists that are not there are named.
        for (query, field) in [
            (ClinicalList::Registry("gout".into()).pairs(), "worklist"),
            (vec![("list".into(), "diabetes".into())], "list"),
            (vec![("list".into(), "registry".into())], "key"),
        ] {
            match app.create_review_task(ids.director, ids.clinic, new(query.clone())) {
                Err(AppError::Invalid { problems, .. }) => {
                    assert!(
                        problems.iter().any(|p| p.field == field),
                        "{query:?}: {problems:?}"
                    )
                }
                other => panic!("{query:?}: {other:?}"),
            }
        }
        assert!(app.review_tasks(ids.moa, ids.clinic).unwrap().is_empty());

        let task = app
            .create_review_task(ids.director, ids.clinic, new(diabetes.pairs()))
            .expect("created");
        let recalls = app
            .create_review_task(
                ids.director,
                ids.clinic,
                NewTask {
                    title: "Recall calls".into(),
                    provider: None,
                    query: ClinicalList::Recalls.pairs(),
                    frequency: Frequency::Weeks { n: 1 },
                    owner: ids.moa,
                    first_due: date!(2026 - 11 - 03),
                },
            )
            .expect("created");
        let views = app.review_tasks(ids.moa, ids.clinic).expect("lists");
        let v = views.iter().find(|v| v.task.id == task.id).expect("listed");
        assert_eq!(v.on_list, Some(on_registry));
        assert_eq!(v.list_name, "Diabetes registry");
        assert_eq!(v.clinical, Some(diabetes.clone()));
        let working = app
            .worked_list(
                ids.moa,
                ids.clinic,
                ReviewScope::Clinic,
                &ClinicalList::Recalls,
            )
            .expect("recalls")
            .rows
            .len();
        let rv = views
            .iter()
            .find(|v| v.task.id == recalls.id)
            .expect("listed");
        assert_eq!(
            (rv.on_list, rv.list_name.as_str()),
            (Some(working), "Recall list")
        );
        assert_eq!(app.my_tasks_due(ids.moa, ids.clinic), 2);
        // Beside the registry, without counting: for those who may read it.
        let brief = app
            .clinical_review_tasks(ids.patel, ids.clinic)
            .expect("brief");
        assert_eq!(brief.len(), 2);
        assert!(brief.iter().all(|v| v.on_list.is_none()));

        clock.advance(time::Duration::days(7));
        let done = app
            .complete_review_task(ids.moa, ids.clinic, task.id, "two to call")
            .expect("done");
        assert_eq!(done.remaining, on_registry);
        let v = app
            .review_tasks(ids.moa, ids.clinic)
            .unwrap()
            .into_iter()
            .find(|v| v.task.id == task.id)
            .expect("listed");
        assert_eq!(v.next_due, date!(2027 - 02 - 05));
    }
}
