package obs

// Metrics of the report intake (the webhook receiver and the report fetcher), in the same namespace as
// the pipeline's: the template's alarms use them (a test checks that every metric they use is emitted).
const (
	WebhookRejected      = "WebhookRejected"      // receiver: a request refused; dimension sets [] and [Reason]
	ReportsQueued        = "ReportsQueued"        // receiver: a report queued for download
	NotificationsSkipped = "NotificationsSkipped" // receiver: an item acknowledged, not downloaded; dimension sets [] and [Reason]
	ReportsFetched       = "ReportsFetched"       // fetcher: a report stored in the raw bucket
	ReportBytes          = "ReportBytes"          // fetcher: bytes of the reports stored
	FetchFailed          = "FetchFailed"          // fetcher: a download given up; dimension sets [] and [Reason]
	RepairNotFound       = "RepairNotFound"       // fetcher: a batch the check asked for is not generated yet (404)
	RepairsQueued        = "RepairsQueued"        // batch check: fetches queued for batches a gap lacks
	BatchesRepaired      = "BatchesRepaired"      // batch check: batches it asked for, committed since
)

// DimReason is the dimension of WebhookRejected, NotificationsSkipped and FetchFailed; its values are
// the small fixed sets of webhook.Rejection, adyen.Skip and fetch.Reason.
const DimReason = "Reason"
