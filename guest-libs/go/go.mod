module forkmail/mailbox

go 1.19
