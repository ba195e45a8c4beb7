//! Recurring review tasks: account managers set them up (what list, whose panel, how often,
//! who does it); the owner works through the list and marks it done, which records what was
//! left and schedules the next due date. Each task is its own document
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
use super::{App, AppError, ReviewScope};

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
    fn task_query(&self, t: &ReviewTask) -> Result<ReviewQuery, AppError> {
        Ok(ReviewQuery::from_pairs(
            t.query.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            self.clinic_today(),
        )?)
    }

    /// The clinic's review tasks the person may see (the ones they own, and those on lists
    /// they may review), soonest due first; retired ones last.
    pub fn review_tasks(&self, who: UserId, clinic: ClinicId) -> Result<Vec<TaskView>, AppError> {
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
            let on_list = match self.task_query(&task) {
                Ok(q) => self
                    .review_rows(who, clinic, scope_of(&task), &q)
                    .ok()
                    .map(|rows| rows.len()),
                Err(_) => None,
            };
            if on_list.is_none() && task.owner != who && !c.is_account_manager(who) {
                continue;
            }
            let next_due = task.next_due(&done);
            out.push(TaskView {
                state: task.state_on(next_due, today),
                next_due,
                last: done.last().cloned(),
                on_list,
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
        self.task_query(&task)?;
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
        let remaining = self
            .review_rows(who, clinic, scope_of(&t), &self.task_query(&t)?)?
            .len();
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
}
