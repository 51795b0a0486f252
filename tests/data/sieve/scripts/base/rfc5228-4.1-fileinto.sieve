require "fileinto";
if header :contains ["from"] "alice" {
   fileinto "INBOX.harassment";
}
