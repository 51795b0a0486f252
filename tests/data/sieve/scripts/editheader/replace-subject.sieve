require ["editheader", "variables", "fileinto"];
if header :matches "subject" "*" {
    deleteheader "subject";
    addheader "Subject" "[filtered] ${1}";
}
if header :matches "subject" "*" { fileinto "s-${1}"; }
